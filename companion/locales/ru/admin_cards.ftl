## Карточки персонажей от владельца (companion.bot.routers.admin.cards)
admin-card-imported = ✅ Импортирован(а) <b>{ $name }</b> (<code>{ $id }</code>, { $module }, { $languages }). Персонаж уже в библиотеке.
admin-card-exists = Файл персонажа <code>{ $file }</code> уже есть. Пришлите карточку снова с подписью <code>overwrite</code>, чтобы заменить его, или <code>id=новый-id</code>, чтобы добавить под другим id.
admin-card-unreadable = Этот файл не подходит как карточка персонажа: { $reason }
admin-card-invalid = Карточка не прошла проверку; ничего не записано.
    { $issues }
admin-card-more = …и ещё { $more }.
admin-card-not-loaded = Карточка записана, но библиотека её не загрузила:
    { $issues }
admin-card-too-large = Файл больше { $limit_mb } МБ; карточка персонажа гораздо меньше.
admin-card-bad-caption = Не понял(а) <code>{ $token }</code> в подписи. Возможные параметры: <code>id=новый-id</code>, <code>module=support|partner|practice|celebrity</code>, <code>overwrite</code>.
admin-card-download-failed = Telegram не отдал файл. Пришлите его, пожалуйста, ещё раз.
