## Консоль владельца (/admin): меню, пользователи, разработчику. Только для администраторов.

admin-menu = <b>Консоль владельца</b>
    Выберите раздел.
admin-section-stats = 📊 Статистика
admin-section-broadcast = 📣 Рассылки
admin-section-users = 👤 Пользователи
admin-section-dev = 🛠 Разработчику
admin-section-mood = 🙂 Настроение и опрос
admin-refresh = ↻ Обновить
admin-back = « Меню

## Пользователи

admin-users-prompt = <b>👤 Пользователи</b>
    Пришлите Telegram id или @username пользователя (или <code>/admin user 123456789</code>).
admin-users-invalid = Это не Telegram id и не @username. Пришлите, например, <code>123456789</code> или <code>@name</code>.
admin-users-not-found = Пользователя { $query } нет. Пришлите другой id или @username.
admin-user-title = 👤 <b>{ $id }</b> { $name }
admin-user-profile = Язык: { $lang } · персонаж: { $persona }
admin-user-activity = С нами с { $joined } · был(а) { $seen } · сообщений: { $messages }
admin-user-plan-pro = Тариф: <b>PRO</b> { $plan } ({ $status }) до { $until } · автопродление { $renew } · { $provider }
admin-user-plan-free = Тариф: бесплатный (последний: { $plan }, { $status }, до { $until })
admin-user-plan-none = Тариф: бесплатный, подписки не было
admin-user-flags = Согласие { $consent } · 18+ { $adult } · заблокировал(а) бота { $blocked } · новости { $news } · check-in { $checkins } · настроение { $mood } · голосовые ответы { $voice }
admin-user-payments = <b>Платежи</b> (сначала новые):
admin-user-payment = • { $date } · { $amount } · { $plan } · { $provider } · { $status } · возвращено { $refunded } · <code>{ $ref }</code>
admin-user-no-payments = Платежей нет
admin-user-grant = 🎁 Выдать PRO
admin-user-refund = ↩️ Возврат
admin-user-another = 🔍 Другой пользователь
admin-grant-choose = Выдать PRO пользователю { $user }: выберите тариф (его срок добавится к текущему).
admin-grant-plan = { $title } · { $days } дн.
admin-grant-confirm = Выдать <b>{ $title }</b> ({ $days } дн.) пользователю { $user }? Он получит об этом сообщение.
admin-refund-choose = Какой платёж пользователя { $user } вернуть?
admin-refund-payment = { $amount } · { $date } · { $plan }
admin-refund-confirm = Вернуть остаток платежа <code>{ $ref }</code> пользователю { $user }? PRO, полученный за него, будет отозван.
admin-refund-none = Этому пользователю нечего возвращать.
admin-confirm = ✅ Подтвердить
admin-cancel = ✖️ Отмена

## Разработчику

admin-dev-title = <b>🛠 Разработчику</b> · версия { $version } · работает { $uptime }
admin-dev-uptime = { $days } д { $hours } ч { $minutes } мин
admin-dev-health = <b>Состояние</b>
admin-dev-queues = <b>Очереди</b>
admin-queue-update_retries = обновления, ждущие повтора (все воркеры)
admin-queue-update_retries_here = обновления у этого воркера (Redis был недоступен)
admin-queue-updates_in_hand = обновления в работе (все воркеры)
admin-queue-voice_notes_waiting = голосовые, ждущие распознавания
admin-queue-memory_learning = проходы обучения памяти в ожидании
admin-dev-errors = <b>Ошибки</b>: { $hour } за час, { $day } за сутки (вид: час / сутки)
admin-dev-personas = Персонажи: загружено { $count }, проблем в файлах: { $issues }
admin-dev-reload = 🔄 Перезагрузить персонажей
admin-dev-reloaded = <b>Библиотека персонажей перезагружена</b> на этом воркере: персонажей { $count }, проблем { $problems }.
admin-dev-changed = Добавлены или изменены: { $ids }
admin-dev-removed = Удалены: { $ids }
admin-dev-more-issues = …и ещё { $count }: запустите <code>companion personas validate</code>.
