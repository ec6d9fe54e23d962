# Time zone question at onboarding (the bot's own voice: "вы").
timezone-ask = Какой у вас часовой пояс? По нему собеседники поймут, утро у вас или вечер. Сейчас стоит <b>{ $zone }</b> (по языку). Поменять можно в любой момент командой /timezone.
timezone-city = { $city ->
        [kaliningrad] Калининград
        [moscow] Москва
        [samara] Самара
        [yekaterinburg] Екатеринбург
        [novosibirsk] Новосибирск
        [vladivostok] Владивосток
        [los_angeles] Лос-Анджелес
        [chicago] Чикаго
        [new_york] Нью-Йорк
        [london] Лондон
        [berlin] Берлин
        [kolkata] Калькутта
       *[other] { $name }
    } · { $utc }
timezone-button-other = Другой…
timezone-button-keep = Оставить как есть
timezone-kept = Оставили <b>{ $zone }</b>. Поменять: /timezone
timezone-other = Отправьте свой пояс командой, например <code>/timezone Asia/Almaty</code> или <code>/timezone Europe/Berlin</code>.
