# Тексты Telegram-бота (companion/bot). Отправляются с parse_mode=HTML: аргументы экранирует
# вызывающий код, теги здесь намеренные.

## Язык
lang-choose = Выберите язык / Choose your language
lang-button-ru = Русский
lang-button-en = English
lang-set = Язык: русский.

## Знакомство
welcome = Привет! Я Companion: персонажи, с которыми можно поговорить в любое время — за поддержкой, для практики или просто так.
consent-request =
    Прежде чем начать, пожалуйста, прочитайте и примите <a href="{ $terms_url }">пользовательское соглашение</a> и <a href="{ $privacy_url }">политику конфиденциальности</a>.

    Пока вы не согласились, я ничего не сохраняю о наших разговорах. Выгрузить или удалить свои данные можно в любой момент: /export и /forget.
consent-accept-button = ✅ Принимаю
consent-accepted = Спасибо! Теперь выберите, с кем хотите поговорить.
consent-required = Сначала, пожалуйста, примите условия — нажмите кнопку ниже или отправьте /start.

## Библиотека персонажей
library-title = <b>Библиотека персонажей</b> — { $page } / { $pages }
library-empty = Здесь пока нет персонажей.
library-filter-all = Все
library-prev = ◀
library-next = ▶
library-choose = 💬 Поговорить { $with_name }
module-support = Поддержка
module-partner = Партнёр
module-practice = Практика
module-celebrity = Знаменитости
badge-pro = PRO
badge-adult = 18+
persona-started =
    { $address ->
        [ty] Теперь ты говоришь { $with } <b>{ $name_ins }</b>.
       *[vy] Теперь вы говорите { $with } <b>{ $name_ins }</b>.
    }
persona-resumed = Снова { $with } <b>{ $name_ins }</b> — продолжим.
persona-unknown = Этот персонаж больше недоступен. Выберите другого: /persona
persona-needs-pro = { $name } доступен(а) с подпиской PRO. Подробнее: /pro.
persona-needs-adult = { $name } — только для взрослых. Подтвердите, пожалуйста, что вам есть 18 лет.
adult-confirm-button = Мне есть 18 лет
adult-confirmed = Спасибо, подтверждено.
no-persona = Сначала выберите, с кем хотите поговорить.

## Чат
reply-failed = Простите, не получилось договорить ответ. Попробуйте, пожалуйста, ещё раз чуть позже.
message-empty = Сообщение пустое — напишите мне что-нибудь.
message-too-long = Сообщение слишком длинное — пожалуйста, не больше { $limit } символов.
throttled = Вы пишете очень быстро — дайте мне пару секунд.
reset-done = Начинаем заново { $with } <b>{ $name_ins }</b>.

## Память
memory-title = <b>Что я о вас помню</b> (нажмите, чтобы удалить):
memory-title-edit = <b>Что я о вас помню</b> (нажмите номер, чтобы исправить):
memory-mode-edit = ✏️ Исправить
memory-mode-delete = 🗑 Удалить
memory-edit-ask = Пришлите, как записать по-новому:
    <i>{ $fact }</i>
    Или нажмите «Отмена».
memory-edit-cancel = Отмена
memory-edit-cancelled = Исправление отменено — ничего не изменилось.
memory-edit-bad = Пришлите новую формулировку одним коротким текстовым сообщением (до { $limit } символов) или нажмите «Отмена».
memory-edited = Сохранено. Теперь я помню: <i>{ $fact }</i>
memory-empty = Я пока ничего о вас не запомнил(а).
memory-deleted = Удалено.
memory-not-found = Этого уже нет.

## Права на данные
forget-confirm = Это удалит <b>все</b> ваши данные: разговоры, то, что я о вас помню, и настройки. Отменить будет нельзя. Продолжить?
forget-yes = Да, удалить всё
forget-no = Отмена
forget-done = Готово — все ваши данные удалены. Отправьте /start, если захотите начать заново.
forget-cancelled = Отменено — ничего не удалено.
forget-renewals-not-stopped = Извините, сейчас не получилось отключить продление вашей подписки, поэтому пока ничего не удалено. Попробуйте /forget ещё раз через несколько минут.
export-caption = Ваши данные.
export-preparing = Готовлю ваши данные…

## Помощь и команды
help =
    <b>Companion</b> — разговоры с персонажами из библиотеки.

    /persona — выбрать собеседника
    /reset — начать разговор заново
    /memory — что я о вас помню
    /export — выгрузить мои данные
    /forget — удалить все мои данные
    /lang — сменить язык
    /timezone — часовой пояс
    /checkins — может ли собеседник писать первым (on/off)
    /news — новости от нас (on/off)
    /pro — подписка PRO
    /subscription — моя подписка
    /echo — показывать расшифровку голосовых
    /voice — отвечать ещё и голосовыми (on/off)
    /mood — ваше настроение в последнее время (off/on/clear)
pro-placeholder = Подписка PRO скоро появится.
subscription-placeholder = У вас пока нет подписки.
cmd-start = Начать
cmd-persona = Выбрать персонажа
cmd-reset = Начать разговор заново
cmd-memory = Что я о вас помню
cmd-forget = Удалить мои данные
cmd-export = Выгрузить мои данные
cmd-lang = Сменить язык
cmd-timezone = Часовой пояс
cmd-help = Помощь
cmd-pro = Подписка PRO
cmd-subscription = Моя подписка
cmd-echo = Расшифровка голосовых

## Неподдерживаемое и ошибки
unsupported-sticker = Классный стикер! Но я понимаю только текст и голосовые сообщения.
unsupported-document = Файлы я читать не умею — напишите мне или отправьте голосовое.
unsupported-location = С геолокацией я не работаю — расскажите словами.
unsupported-poll = В опросах я, увы, не участвую.
unsupported-media = Я понимаю только текст и голосовые сообщения.
unsupported-button = Эта кнопка больше не работает.
error-generic = Простите, у меня что-то пошло не так. Попробуйте ещё раз.
unknown-command = Такой команды я не знаю. Смотрите /help.
group-private-only = Давайте поговорим в личных сообщениях: @{ $bot_username }

## Часовой пояс
timezone-current = Ваш часовой пояс: <b>{ $zone }</b>. Чтобы сменить, отправьте /timezone и пояс, например <code>/timezone Europe/Moscow</code>.
timezone-set = Часовой пояс: <b>{ $zone }</b>.
timezone-invalid = Такого часового пояса я не знаю. Отправьте, пожалуйста, например <code>/timezone Europe/Moscow</code> или <code>/timezone Asia/Yekaterinburg</code>.
