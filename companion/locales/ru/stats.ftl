## Раздел «Статистика» панели владельца (companion/bot/routers/admin/stats.py) и
## `companion stats` (companion/cli/stats.py). Только числа: ни слов, ни id пользователей.

stats-choose = <b>Статистика</b>
    Выберите отчёт. Графики — за последние 7 дней; под графиком можно выбрать 30 или 90.
stats-unknown = Такого отчёта или периода нет.
stats-days = { $days } дн.
stats-other-reports = « Отчёты

stats-report-activity = Активность
stats-report-funnel = Воронка онбординга
stats-report-personas = Персонажи и модули
stats-report-paywall = Конверсия пейвола
stats-report-revenue = Выручка
stats-report-subscriptions = PRO и отток
stats-report-retention = Удержание

stats-new-users = Новые пользователи
stats-dau = DAU
stats-dau-average = DAU (в среднем)
stats-wau = WAU (за 7 дней)
stats-mau = MAU (за 30 дней)
stats-stickiness = DAU / MAU
stats-messages = Сообщения
stats-voice-notes = Голосовые

stats-step-start = /start (новые люди)
stats-step-language = Выбрали язык
stats-step-consent = Приняли условия
stats-step-persona = Выбрали персонажа
stats-step-first_message = Первое сообщение
stats-step-tenth_message = 10-е сообщение

stats-module = Модуль { $subject } (люди / сообщения)
stats-persona = { $subject } (люди / сообщения)

stats-paywall-views = Видели пейвол
stats-checkouts = Начали оплату
stats-payments = Оплатили
stats-conversion = Пейвол → оплата

stats-revenue-by = { $subject }: чистыми (платежей, возвращено)
stats-renewals = Продления
stats-active-pro = Активных PRO
stats-new-pro = Новых PRO
stats-churned = Закончились (истекли или возвращены)
stats-churn-rate = Отток

stats-cohort-size = Людей в когортах
stats-retention-d1 = D1
stats-retention-d7 = D7
stats-retention-d30 = D30

stats-col-day = День
stats-col-step = Шаг
stats-col-count = Число
stats-col-of-previous = От предыдущего
stats-col-of-first = От первого
stats-col-persona = Персонаж [модуль]
stats-col-users = Люди
stats-col-provider = Провайдер
stats-col-currency = Валюта
stats-col-gross = Валовая
stats-col-refunded = Возвращено
stats-col-net = Чистая
stats-col-plan = План
