# Time zone question at onboarding.
timezone-ask = Which time zone are you in? It lets the companions know whether it is morning or evening for you. For now it is <b>{ $zone }</b> (from your language). You can change it any time with /timezone.
timezone-city = { $city ->
        [kaliningrad] Kaliningrad
        [moscow] Moscow
        [samara] Samara
        [yekaterinburg] Yekaterinburg
        [novosibirsk] Novosibirsk
        [vladivostok] Vladivostok
        [los_angeles] Los Angeles
        [chicago] Chicago
        [new_york] New York
        [london] London
        [berlin] Berlin
        [kolkata] Kolkata
       *[other] { $name }
    } · { $utc }
timezone-button-other = Other…
timezone-button-keep = Keep as it is
timezone-kept = Kept <b>{ $zone }</b>. To change it: /timezone
timezone-other = Send your zone with the command, e.g. <code>/timezone Asia/Almaty</code> or <code>/timezone America/Denver</code>.
