## Рассылки новостей (companion.broadcasts) и /news.

cmd-news = Новости от нас: вкл. или выкл.
news-status-on = 🔔 Новости <b>включены</b>: иногда мы пишем о том, что нового. /news off выключает их.
news-status-off = 🔕 Новости <b>выключены</b>: наши рассылки не придут. /news on включает их снова.
news-button-off = 🔕 Отключить новости
news-button-on = 🔔 Включить новости
news-usage = Отправьте /news on или /news off.

## Экраны рассылки для администратора.

broadcast-compose =
    📣 <b>Новая рассылка</b>
    Пришлите сообщение так, как его должны увидеть люди: текст или фото с подписью. Оформление сохранится.
broadcast-compose-unsupported = Разослать можно только текст или фото с подписью. Пришлите одно из них или нажмите «Отмена».
broadcast-compose-empty = Сообщение пустое. Пришлите текст или фото с подписью.
broadcast-buttons =
    Добавить кнопки-ссылки? Пришлите по одной в строке: <code>Текст | https://example.com</code>, или нажмите «Без кнопок».
broadcast-no-buttons = Без кнопок
broadcast-buttons-invalid = Строка { $line }: { $reason ->
        [text] текст кнопки должен быть от 1 до 64 символов.
        [url] ссылка должна начинаться с https://, http:// или tg://.
        [count] не больше 8 кнопок.
       *[format] напишите так: <code>Текст | https://example.com</code>.
    }
broadcast-preview-title = 👆 Так сообщение увидят люди (последняя кнопка добавляется к каждой рассылке).
broadcast-preview-failed = Telegram не принял это сообщение ({ $reason }). Составьте его заново.
broadcast-segment = Кому отправить?
broadcast-segment-all = Всем
broadcast-segment-pro = PRO
broadcast-segment-free = Бесплатным
broadcast-segment-language = Язык: { $lang }
broadcast-segment-persona = По персонажу…
broadcast-segment-inactive = Неактивным…
broadcast-pick-persona = Тем, кто сейчас общается с каким персонажем?
broadcast-pick-inactive = Неактивным сколько дней? Нажмите кнопку или пришлите число дней.
broadcast-days-invalid = Пришлите целое число дней от 1 до 3650 или нажмите кнопку.
broadcast-days = { $days ->
        [one] { $days } день
        [few] { $days } дня
       *[many] { $days } дней
    }
broadcast-segment-name = { $kind ->
        [all] всем
        [pro] подписчикам PRO
        [free] бесплатным пользователям
        [language] язык { $value }
        [persona] общаются с { $value }
       *[inactive] неактивны { $value } дн.
    }
broadcast-confirm =
    Отправить: <b>{ $segment }</b> — { $count } { $count ->
        [one] человек
        [few] человека
       *[many] человек
    }.
    (Только тем, кто принял условия, не заблокировал бота и не отключил новости.)
broadcast-confirm-empty = В группе «{ $segment }» никого нет. Выберите другую.
broadcast-send = ✅ Отправить
broadcast-back = ◀ Назад
broadcast-cancel = ✖ Отмена
broadcast-cancelled = Рассылка отменена.
broadcast-stop = ⏹ Остановить
broadcast-stopped = Останавливаем: уже отправленные сообщения останутся.
broadcast-gone = Эта рассылка уже закрыта. Начните новую из /admin.
broadcast-queued = 📣 Рассылка в очереди: { $total } { $total ->
        [one] получатель
        [few] получателя
       *[many] получателей
    }.
broadcast-progress =
    📣 Отправка: { $done } из { $total }
    ✅ доставлено { $sent } · 🚫 заблокировали { $blocked } · ⚠️ ошибки { $failed } · 💤 пропущено { $skipped }
broadcast-report-done =
    📣 <b>Рассылка завершена</b>: получателей { $total }.
    ✅ Доставлено: { $sent }
    🚫 Заблокировали бота: { $blocked }
    ⚠️ Ошибки: { $failed }
    ❔ Не подтверждено (Telegram не ответил или отправку прервал перезапуск; повторно не отправлялось): { $unconfirmed }
    💤 Пропущено (отключили новости или ушли): { $skipped }
broadcast-report-cancelled =
    📣 <b>Рассылка остановлена</b>: получателей { $total }.
    ✅ Доставлено: { $sent }
    🚫 Заблокировали бота: { $blocked }
    ⚠️ Ошибки: { $failed }
    ❔ Не подтверждено: { $unconfirmed }
    💤 Пропущено: { $skipped }
    ⏹ Не отправлено: { $pending }
