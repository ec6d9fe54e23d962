## The owner's console (/admin): menu, users, developer view. Admins only.

admin-menu = <b>Owner's console</b>
    Choose a section.
admin-section-stats = 📊 Stats
admin-section-broadcast = 📣 Broadcasts
admin-section-users = 👤 Users
admin-section-dev = 🛠 Developer
admin-section-mood = 🙂 Mood & survey
admin-refresh = ↻ Refresh
admin-back = « Menu
