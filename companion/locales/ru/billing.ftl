## PRO и оплата (companion.bot.routers.billing)

pro-intro =
    <b>Companion PRO</b>
    • Модуль «Партнёр»: персонажи для романтической ролевой игры (18+)
    • Всё остальное остаётся бесплатным, как и раньше
    Выберите тариф:
pro-plan-button = { $title } — { $rub } ₽ / { $stars } ⭐
pro-already-active = У вас уже есть PRO до { $until }. Новый тариф добавится к нему.
pro-unavailable = Оплата сейчас недоступна. Пожалуйста, попробуйте позже.
pro-unknown-plan = Этот тариф больше не продаётся. Выберите другой: /pro
pro-offer =
    Перед оплатой, пожалуйста, прочитайте публичную оферту (условия платной услуги):
    { $url }
    Нажмите «Принимаю», чтобы продолжить.
pro-offer-open-button = 📄 Читать оферту
pro-offer-accept-button = ✅ Принимаю оферту
pro-offer-accepted = Спасибо!
pro-offer-needed = Сначала примите оферту: /pro
pro-method-choose = Как вы хотите оплатить «{ $title }»?
pro-method-card = 💳 Картой или СБП — { $rub } ₽
pro-method-stars = ⭐ Telegram Stars — { $stars }
pro-pay-link = { $title }: { $rub } ₽. Нажмите кнопку, чтобы оплатить на странице ЮKassa; PRO включится, как только платёж пройдёт.
pro-pay-button = Оплатить
pro-stars-description = PRO-доступ к модулю «Партнёр» в Companion.
pro-stars-link = Нажмите кнопку, чтобы оплатить звёздами Telegram.
pro-stars-button = Оплатить звёздами
pro-stars-refused = Эту покупку нельзя завершить. Откройте /pro и попробуйте ещё раз.
pro-stars-problem = Мы не смогли сопоставить этот платёж с тарифом, поэтому вернули звёзды. Выбрать тариф можно в /pro.
pro-stars-refunded-erased = Ваши данные были удалены, поэтому этот платёж звёздами возвращён, а подписка отменена.
pro-already-subscribed =
    У вас уже есть PRO до { $until }, и он продлевается автоматически. Подписка может быть только одна.
    Чтобы сменить тариф или способ оплаты, отключите продление в /subscription (PRO останется до { $until }), а затем выберите новый тариф в /pro.
pro-payment-unavailable = Платёжный сервис не отвечает. Деньги не списаны; попробуйте, пожалуйста, через несколько минут.
pro-contact-ask = По закону мы должны отправить вам чек. Пришлите, пожалуйста, e-mail или номер телефона (спросим только один раз).
pro-contact-invalid = Это не похоже на e-mail или телефон. Пришлите, например, name@example.com или +7 900 123-45-67.
pro-contact-saved = Спасибо, сохранили.
pro-contact-cancelled = Оплата отменена. Начать заново можно через /pro.
paywall-text = { $name } доступна с PRO.

## /subscription

subscription-none = У вас нет подписки PRO. Выберите тариф:
subscription-status =
    <b>{ $plan }</b>
    Статус: { $state }
    До: { $until }
    Автопродление: { $renewal }
subscription-state-active = активна
subscription-state-pending = ожидает оплаты
subscription-state-past-due = платёж не прошёл, PRO сохранён на несколько дней
subscription-state-cancelled = отменена, действует до конца периода
subscription-state-expired = закончилась
subscription-state-refunded = возвращена
subscription-state-none = нет
subscription-renew-on = включено
subscription-renew-off = выключено
subscription-cancel-button = Отменить продление
subscription-resume-button = Включить продление
subscription-cancelled = Продление выключено. PRO действует до { $until }.
subscription-resumed = Продление снова включено. Следующее списание около { $until }.
subscription-not-cancellable = Нет подписки с продлением, которую можно изменить.

## Уведомления от задач биллинга

billing-notice-activated = 🎉 PRO включён: { $plan }, до { $until }. Спасибо!
billing-notice-renewed = PRO продлён: { $plan }, до { $until }.
billing-notice-renewal-failed = Не удалось продлить PRO. Он сохранится до { $until }, пока мы пробуем ещё раз; оплатить можно и в /pro.
billing-notice-expired = Ваш PRO закончился. Продлить можно в любой момент: /pro
billing-notice-refunded = Платёж за «{ $plan }» возвращён; PRO выключен.
billing-notice-granted = Вам подарен PRO: { $plan }, до { $until }.

## Команды администратора

admin-only = Эта команда только для администраторов.
admin-refund-usage = Использование: /refund ID_ПОЛЬЗОВАТЕЛЯ или ID_ПЛАТЕЖА
admin-refund-nothing = Для { $reference } нечего возвращать.
admin-refund-done = Возврат для { $reference }: { $outcome }.
admin-grant-usage = Использование: /grant ID_ПОЛЬЗОВАТЕЛЯ ID_ТАРИФА ДНЕЙ
admin-grant-done = PRO выдан пользователю { $user } до { $until }.
