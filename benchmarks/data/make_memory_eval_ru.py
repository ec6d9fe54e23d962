"""Generates the Russian long-term memory evaluation set: `benchmarks/data/memory_eval_ru.json`.

Deterministic (a fixed seed), the same shape as `make_memory_eval.py` (users with dated
sessions, questions naming the exchanges that answer them), but written in Russian from
scratch rather than translated: people and places appear in the case the sentence needs
("к Ольге", "в Твери", "из Казани"), the questions ask in other words and other forms than the
statements ("переехали в Самару" / "в каком городе я живу"), so matching word forms is not
enough and Russian stemming matters. Types:

- ``single``: one exchange answers;
- ``multi``: two exchanges are needed (a person introduced in one, their detail in another);
- ``temporal``: the situation changed; the latest statement answers, an older one misleads;
- ``cross``: the languages differ: a Russian question about something the user said in
  English, or an English question about something said in Russian (bilingual users switch).

An exchange is one user message and the companion's reply; its id is the user turn's id.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SEED = 20260402
USERS = 14
SESSIONS = 16
OUT = Path(__file__).resolve().parent / "memory_eval_ru.json"


@dataclass(frozen=True)
class Name:
    nom: str  # Ольга
    gen: str  # у Ольги
    dat: str  # к Ольге
    ins: str  # с Ольгой
    female: bool = False


NAMES = [
    Name("Ольга", "Ольги", "Ольге", "Ольгой", female=True),
    Name("Дима", "Димы", "Диме", "Димой"),
    Name("Павел", "Павла", "Павлу", "Павлом"),
    Name("Ирина", "Ирины", "Ирине", "Ириной", female=True),
    Name("Серёжа", "Серёжи", "Серёже", "Серёжей"),
    Name("Аня", "Ани", "Ане", "Аней", female=True),
    Name("Костя", "Кости", "Косте", "Костей"),
    Name("Марина", "Марины", "Марине", "Мариной", female=True),
    Name("Лев", "Льва", "Льву", "Львом"),
    Name("Вера", "Веры", "Вере", "Верой", female=True),
    Name("Тимур", "Тимура", "Тимуру", "Тимуром"),
    Name("Надя", "Нади", "Наде", "Надей", female=True),
    Name("Глеб", "Глеба", "Глебу", "Глебом"),
    Name("Соня", "Сони", "Соне", "Соней", female=True),
    Name("Артём", "Артёма", "Артёму", "Артёмом"),
    Name("Юля", "Юли", "Юле", "Юлей", female=True),
]


@dataclass(frozen=True)
class City:
    nom: str  # Тверь
    acc: str  # в Тверь (куда)
    loc: str  # в Твери (где)
    gen: str  # из Твери


CITIES = [
    City("Казань", "в Казань", "в Казани", "из Казани"),
    City("Тверь", "в Тверь", "в Твери", "из Твери"),
    City("Самара", "в Самару", "в Самаре", "из Самары"),
    City("Пермь", "в Пермь", "в Перми", "из Перми"),
    City("Томск", "в Томск", "в Томске", "из Томска"),
    City("Ярославль", "в Ярославль", "в Ярославле", "из Ярославля"),
    City("Калининград", "в Калининград", "в Калининграде", "из Калининграда"),
    City("Иркутск", "в Иркутск", "в Иркутске", "из Иркутска"),
    City("Уфа", "в Уфу", "в Уфе", "из Уфы"),
    City("Псков", "в Псков", "в Пскове", "из Пскова"),
    City("Вологда", "в Вологду", "в Вологде", "из Вологды"),
    City("Мурманск", "в Мурманск", "в Мурманске", "из Мурманска"),
]
# (who, accusative as in "взяли щенка", instrumental "с котёнком")
PETS = [
    ("щенок бигля", "щенка бигля"),
    ("рыжий котёнок", "рыжего котёнка"),
    ("волнистый попугай", "волнистого попугая"),
    ("вислоухий кролик", "вислоухого кролика"),
    ("морская свинка", "морскую свинку"),
]
PET_NAMES = ["Бублик", "Пломбир", "Тоша", "Ириска", "Персик", "Кузя", "Шпрота", "Бусинка"]
# (nominative, instrumental: "работает врачом")
JOBS = [
    ("бухгалтер", "бухгалтером"),
    ("учительница", "учительницей"),
    ("фельдшер", "фельдшером"),
    ("программист", "программистом"),
    ("дизайнер", "дизайнером"),
    ("повар", "поваром"),
    ("юрист", "юристом"),
    ("прораб", "прорабом"),
    ("логист", "логистом"),
    ("ветеринар", "ветеринаром"),
]
# (statement, what it is)
HOBBIES = [
    "записал{ась} на гончарный круг, руки в глине по локоть",
    "начал{a} ходить на скалодром по вечерам",
    "купил{a} акварель и рисую каждое утро",
    "записал{ась} в хор при доме культуры",
    "хожу на курсы испанского, пока путаю глаголы",
    "{keen} выпечкой хлеба на закваске",
]
ALLERGENS = [("арахис", "арахиса"), ("киви", "киви"), ("креветки", "креветок"), ("мёд", "мёда")]
# (accusative, nominative, the short name in the nominative and in the accusative)
EVENTS = [
    ("операцию на колене", "операция на колене", "операция", "операцию"),
    ("защиту диплома", "защита диплома", "защита", "защиту"),
    ("собеседование в банке", "собеседование в банке", "собеседование", "собеседование"),
    ("экзамен на права", "экзамен на права", "экзамен", "экзамен"),
]
MONTHS_GEN = ["марта", "апреля", "мая", "июня", "сентября", "октября", "ноября"]
TRIPS = ["на Байкал", "в Дагестан", "на Алтай", "в Карелию", "в Калининград", "на Камчатку"]
BOOKS = [
    "«Мастер и Маргарита»",
    "«Лавр»",
    "«Обломов»",
    "«Пикник на обочине»",
    "«Зулейха открывает глаза»",
    "«Тихий Дон»",
    "«Петровы в гриппе»",
]
INSTRUMENTS = [
    ("гитара", "гитару", "гитаре"),
    ("укулеле", "укулеле", "укулеле"),
    ("скрипка", "скрипку", "скрипке"),
]
RELATIVES = [("дядя", False), ("тётя", True), ("дедушка", False), ("крёстная", True)]
DIETS = [
    ("вегетарианство", "на вегетарианстве"),
    ("кето", "на кето"),
    ("интервальное голодание", "на интервальном голодании"),
    ("без сахара", "без сахара"),
]

SMALL_TALK = [
    "Весь день лил дождь, сидел{a} дома с чаем.",
    "Опять проспал{a} будильник, еле успел{a} на электричку.",
    "Посмотрели вчера новый сериал, так себе, если честно.",
    "На работе аврал, голова кругом.",
    "Соседи сверху снова что-то сверлят с утра.",
    "Купил{a} наконец нормальный чайник, старый совсем развалился.",
    "Ходили гулять в парк, листья уже жёлтые.",
    "Никак не могу выбрать, что приготовить на ужин.",
    "Разбирал{a} шкаф и {found} старые фотографии со школы.",
    "В магазине у дома опять подняли цены.",
    "Пробежал{a} сегодня пять километров, ноги гудят.",
    "Сломался зонт прямо на остановке, промок{la} насквозь.",
    "Весь вечер играли в настолки с друзьями.",
    "Заказал{a} пиццу, привезли холодную.",
    "Устал{a} от бесконечных созвонов.",
    "Мама звонила, долго болтали обо всём.",
    "Смотрел{a} футбол, наши опять проиграли.",
    "В метро сегодня было не протолкнуться.",
    "Решил{a} с понедельника меньше сидеть в телефоне.",
    "Прочитал{a} статью про сон, надо ложиться раньше.",
]
REPLIES = [
    "Понимаю тебя.",
    "Ого, расскажи подробнее!",
    "Звучит здорово.",
    "Бывает, держись.",
    "Я рада, что ты поделился.",
    "Интересно, а что было дальше?",
    "Как ты себя при этом чувствуешь?",
    "Надеюсь, дальше будет легче.",
]
# Things said in English by a bilingual user, asked about in Russian (and the other way).
EN_STATEMENTS = [
    ("Just signed the lease for a flat near the river, moving in next month.", "lease"),
    ("My doctor told me to cut down on coffee because of my blood pressure.", "coffee"),
    ("I adopted a three-legged greyhound from the shelter, his name is Captain.", "greyhound"),
    ("Started volunteering at the food bank every Saturday morning.", "volunteer"),
]
RU_QUESTIONS_FOR_EN = {
    "lease": "Где я собираюсь жить, что я подписал?",
    "coffee": "Что мне посоветовал врач насчёт кофе и давления?",
    "greyhound": "Какую собаку я взял из приюта и как её зовут?",
    "volunteer": "Чем я занимаюсь по субботам как волонтёр?",
}
RU_STATEMENTS = [
    ("Порвал{a} связки на тренировке, теперь месяц в ортезе.", "ligament"),
    ("Наконец-то получил{a} водительские права, с третьей попытки!", "license"),
    ("Мы с {spouse} решили копить на дачу под Тверью.", "dacha"),
    ("Записал{a} сына в секцию дзюдо, ему очень нравится.", "judo"),
]
EN_QUESTIONS_FOR_RU = {
    "ligament": "What injury did I get during training?",
    "license": "Did I pass my driving test in the end?",
    "dacha": "What are my partner and I saving money for?",
    "judo": "Which sport did I sign my son up for?",
}


@dataclass
class Exchange:
    text: str
    reply: str
    key: str | None = None


@dataclass
class Plan:
    sessions: list[list[Exchange]] = field(default_factory=lambda: [[] for _ in range(SESSIONS)])
    questions: list[tuple[str, str, list[str]]] = field(default_factory=list)


def plan_user(rng: random.Random) -> Plan:
    plan = Plan()
    female = rng.random() < 0.5
    # The user's gender shows in every past-tense verb ("купила" / "купил").
    forms = {
        "a": "а" if female else "",
        "la": "ла" if female else "",
        "ась": "ась" if female else "ся",
        "found": "нашла" if female else "нашёл",
        "keen": "увлеклась" if female else "увлёкся",
        "spouse": "мужем" if female else "женой",
    }

    def g(text: str) -> str:
        return text.format(**forms)

    names = rng.sample(NAMES, 8)
    cities = rng.sample(CITIES, 4)

    def s(lo: int, hi: int) -> int:
        return rng.randint(lo, hi)

    def put(session: int, text: str, key: str | None = None, reply: str | None = None) -> None:
        plan.sessions[session].append(Exchange(g(text), reply or rng.choice(REPLIES), key))

    def ask(kind: str, question: str, *keys: str) -> None:
        plan.questions.append((kind, question, list(keys)))

    # --- single ------------------------------------------------------------------------
    pet_nom, pet_acc = rng.choice(PETS)
    pet = rng.choice(PET_NAMES)
    put(
        s(0, 9),
        rng.choice(
            [
                f"Мы всё-таки взяли {pet_acc}! Назвали {pet}.",
                f"У нас дома пополнение — {pet_nom}, зовут {pet}.",
            ]
        ),
        "pet",
        f"{pet} — какое милое имя!",
    )
    put(s(0, 15), f"Соседский {rng.choice(['пёс', 'кот'])} опять орал всю ночь под окнами.")
    put(s(3, 15), f"Возил{{a}} {pet} к ветеринару, просто плановый осмотр.")
    ask(
        "single",
        rng.choice(["Как зовут нашего питомца?", "Напомни, какую кличку мы дали нашему зверьку?"]),
        "pet",
    )

    sibling = names[0]
    job_nom, job_ins = rng.choice(JOBS)
    rel = rng.choice(["сестра", "брат"])
    put(
        s(0, 8),
        rng.choice(
            [
                f"Моя {rel} {sibling.nom} устроилась работать {job_ins}."
                if rel == "сестра"
                else f"Мой {rel} {sibling.nom} устроился работать {job_ins}.",
                f"У {sibling.gen} новая работа — теперь {job_nom}, представляешь?",
            ]
        ),
        "sibling_job",
    )
    put(s(0, 15), "У коллеги тоже есть младший брат, они вечно ссорятся.")
    put(s(2, 15), f"Вчера ужинали с {sibling.ins}, много смеялись.")
    ask(
        "single",
        rng.choice([f"Кем сейчас работает {sibling.nom}?", f"Какая профессия у {sibling.gen}?"]),
        "sibling_job",
    )

    hobby = rng.choice(HOBBIES)
    put(s(1, 10), f"Представляешь, я {hobby}.", "hobby")
    put(s(0, 15), "Смотрел{a} передачу про людей со странными увлечениями.")
    ask(
        "single",
        rng.choice(
            [g("Каким новым увлечением я занял{ась}?"), g("Чем я начал{a} заниматься для души?")]
        ),
        "hobby",
    )

    allergen, allergen_gen = rng.choice(ALLERGENS)
    put(
        s(0, 12),
        rng.choice(
            [
                f"Сдал{{a}} анализы — оказалось, у меня аллергия на {allergen}.",
                f"Врач запретил мне {allergen}, аллергия подтвердилась.",
            ]
        ),
        "allergy",
    )
    put(s(0, 15), f"Купил{{a}} маме на праздник торт без {allergen_gen}, она не любит.")
    ask(
        "single",
        rng.choice(["На что у меня аллергия?", "Какой продукт мне нельзя есть?"]),
        "allergy",
    )

    event_acc, event_full, event_nom, event_short_acc = rng.choice(EVENTS)
    day = rng.randint(3, 27)
    month = rng.choice(MONTHS_GEN)
    put(
        s(4, 13),
        rng.choice(
            [
                f"Мне назначили {event_acc} на {day} {month}, уже нервничаю.",
                f"Всё, дата известна: {event_full} {day} {month}.",
            ]
        ),
        "event",
    )
    put(s(0, 15), f"Подруга рассказывала, как сама ходила на {event_short_acc}, жуть.")
    ask(
        "single",
        rng.choice(
            [f"Когда у меня {event_nom}?", f"На какое число мне назначили {event_short_acc}?"]
        ),
        "event",
    )

    trip = rng.choice(TRIPS)
    put(
        s(2, 14),
        rng.choice(
            [f"Купили билеты {trip} на отпуск!", f"В отпуск едем {trip}, будем ходить в походы."]
        ),
        "trip",
    )
    put(s(0, 15), "Коллега вернулся с моря, загорелый, завидую.")
    ask(
        "single",
        rng.choice(["Куда мы поедем в отпуск?", "Какое направление мы выбрали для отдыха?"]),
        "trip",
    )

    # --- multi -------------------------------------------------------------------------
    rel_nom, rel_female = rng.choice(RELATIVES)
    giver = rng.choice([n for n in NAMES if n.female == rel_female and n not in names[:4]])
    ending = "а" if rel_female else ""
    instrument_nom, instrument_acc, instrument_loc = rng.choice(INSTRUMENTS)
    first = s(0, 7)
    put(
        first,
        f"{rel_nom.capitalize()} {giver.nom} подарил{ending} мне {instrument_acc}"
        " на день рождения!",
        "gift",
    )
    put(
        s(first + 1, 15),
        f"{giver.nom} переехал{ending} {cities[0].acc}, теперь так далеко от нас.",
        "gift_city",
    )
    put(s(0, 15), f"Слышал{{a}}, как уличный музыкант играл на {instrument_loc} у метро.")
    ask(
        "multi",
        rng.choice(
            [
                f"В каком городе теперь живёт тот, кто подарил мне {instrument_acc}?",
                f"Где сейчас живёт родственник, от которого у меня {instrument_nom}?",
            ]
        ),
        "gift",
        "gift_city",
    )

    colleague, book = names[3], rng.choice(BOOKS)
    first = s(0, 8)
    put(first, f"Коллега {colleague.nom} всё советует мне прочитать {book}.", "book_rec")
    put(
        s(first + 1, 15),
        rng.choice(
            [
                f"Дочитал{{a}} {book}, финал довёл до слёз.",
                f"Закончил{{a}} {book} — вот это концовка.",
            ]
        ),
        "book_done",
    )
    ask(
        "multi",
        rng.choice(
            [
                g("Прочитал{a} ли я книгу, которую советовал")
                + f"{'а' if colleague.female else ''} {colleague.nom}, и как она мне?",
                "Что я думаю о романе, который мне рекомендовали на работе?",
            ]
        ),
        "book_rec",
        "book_done",
    )

    friend = rng.choice([n for n in NAMES if n.female and n not in (*names[:4], giver)])
    first = s(0, 8)
    put(first, f"С {friend.ins} мы дружим ещё со школы, самый близкий человек.", "friend")
    put(
        s(first + 1, 15),
        f"{friend.nom} выходит замуж в {rng.choice(['мае', 'июле', 'сентябре'])}!",
        "friend_wed",
    )
    put(s(0, 15), "Ходили с двоюродной сестрой на свадебную выставку.")
    ask(
        "multi",
        rng.choice(
            [
                "Когда свадьба у моей школьной подруги?",
                "Моя лучшая подруга со школьных лет выходит замуж — когда?",
            ]
        ),
        "friend",
        "friend_wed",
    )

    # --- temporal ------------------------------------------------------------------------
    home_old, home_new = cities[1], cities[2]
    put(s(0, 4), f"Я всю жизнь прожил{{a}} {home_old.loc}.", "home_old")
    put(s(5, 8), f"Подумываю когда-нибудь уехать {home_old.gen}.")
    put(
        s(11, 15),
        rng.choice(
            [
                f"Мы наконец переехали {home_new.acc}! Кругом коробки.",
                f"Пишу уже из новой квартиры {home_new.loc}, переезд позади.",
            ]
        ),
        "home_new",
    )
    ask(
        "temporal",
        rng.choice(["В каком городе я сейчас живу?", "Где мой дом теперь?"]),
        "home_new",
    )

    (_, old_ins), (new_nom, new_ins) = rng.sample(JOBS, 2)
    put(s(0, 5), f"Работаю {old_ins}, устаю, но в целом нормально.", "job_old")
    put(
        s(10, 15),
        rng.choice(
            [
                f"Новости: уволил{{ась}} и теперь работаю {new_ins}!",
                f"Первая неделя на новом месте, я теперь {new_nom}.",
            ]
        ),
        "job_new",
    )
    ask(
        "temporal",
        rng.choice(["Кем я сейчас работаю?", "Какая у меня работа на данный момент?"]),
        "job_new",
    )

    diet_old_loc, diet_new_loc = (loc for _, loc in rng.sample(DIETS, 2))
    put(s(0, 6), f"Этот месяц сижу {diet_old_loc}, посмотрим, что выйдет.", "diet_old")
    put(
        s(10, 15),
        f"Теперь я {diet_new_loc} — чувствую себя гораздо лучше.",
        "diet_new",
    )
    ask(
        "temporal",
        rng.choice(["Какого питания я придерживаюсь в последнее время?", "Как я сейчас питаюсь?"]),
        "diet_new",
    )

    # --- cross-lingual -----------------------------------------------------------------
    text, key = rng.choice(EN_STATEMENTS)
    put(s(0, 15), text.replace("{", "{{").replace("}", "}}"), key, "Sounds like a big step!")
    ask("cross", RU_QUESTIONS_FOR_EN[key], key)
    text, key = rng.choice(RU_STATEMENTS)
    put(s(0, 15), text, key)
    ask("cross", EN_QUESTIONS_FOR_RU[key], key)

    for session in plan.sessions:
        for talk in rng.sample(SMALL_TALK, rng.randint(5, 8)):
            session.append(Exchange(g(talk), rng.choice(REPLIES)))
        rng.shuffle(session)
    return plan


def build(seed: int = SEED) -> dict[str, Any]:
    rng = random.Random(seed)
    start = datetime(2025, 9, 1, 19, 0, tzinfo=UTC)
    users: list[dict[str, Any]] = []
    questions: list[dict[str, Any]] = []
    for user_index in range(USERS):
        plan = plan_user(rng)
        user_id = 5000 + user_index
        key_ids: dict[str, str] = {}
        sessions: list[dict[str, Any]] = []
        day = start + timedelta(days=rng.randint(0, 6))
        for session_index, exchanges in enumerate(plan.sessions):
            session_id = f"u{user_id}-s{session_index:02d}"
            turns: list[dict[str, Any]] = []
            for turn_index, exchange in enumerate(exchanges):
                turn_id = f"{session_id}-t{turn_index:02d}"
                at = (day + timedelta(minutes=2 * turn_index)).isoformat()
                turns.append({"id": turn_id, "role": "user", "text": exchange.text, "at": at})
                turns.append(
                    {"id": f"{turn_id}r", "role": "assistant", "text": exchange.reply, "at": at}
                )
                if exchange.key:
                    key_ids[exchange.key] = turn_id
            sessions.append({"id": session_id, "date": day.date().isoformat(), "turns": turns})
            day = day + timedelta(days=rng.randint(9, 20))
        users.append({"user_id": user_id, "sessions": sessions})
        for n, (kind, question, keys) in enumerate(plan.questions):
            questions.append(
                {
                    "id": f"u{user_id}-q{n:02d}",
                    "user_id": user_id,
                    "type": kind,
                    "question": question,
                    "asked_at": (day + timedelta(days=1)).isoformat(),
                    "evidence": [key_ids[key] for key in keys],
                }
            )
    return {"seed": seed, "language": "ru", "users": users, "questions": questions}


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate the Russian memory evaluation set.")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    data = build(args.seed)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    turns = sum(len(s["turns"]) for u in data["users"] for s in u["sessions"])
    print(
        f"wrote {args.out}: {len(data['users'])} users, {turns} turns, "
        f"{len(data['questions'])} questions"
    )


if __name__ == "__main__":
    main()
