## Persona cards sent by the owner (companion.bot.routers.admin.cards)
admin-card-imported = ✅ Imported <b>{ $name }</b> (<code>{ $id }</code>, { $module }, { $languages }). It is in the library now.
admin-card-exists = A persona file <code>{ $file }</code> already exists. Send the card again with the caption <code>overwrite</code> to replace it, or <code>id=new-id</code> to add it under another id.
admin-card-unreadable = This file is not a usable character card: { $reason }
admin-card-invalid = The card did not pass validation; nothing was written.
    { $issues }
admin-card-more = …and { $more } more.
admin-card-not-loaded = The card was written, but the library did not load it:
    { $issues }
admin-card-too-large = The file is over { $limit_mb } MB; a character card is much smaller.
admin-card-bad-caption = I did not understand <code>{ $token }</code> in the caption. Options: <code>id=new-id</code>, <code>module=support|partner|practice|celebrity</code>, <code>overwrite</code>.
admin-card-download-failed = Telegram did not hand the file over. Please send it again.
