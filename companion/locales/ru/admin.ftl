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
