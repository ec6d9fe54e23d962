"""Generates the long-term memory evaluation set: `benchmarks/data/memory_eval.json`.

Deterministic (a fixed seed): run ``python -m benchmarks.data.make_memory_eval`` and the same
file comes out. Each synthetic user has ~16 dated sessions over eight months with a companion;
facts about their life are scattered over the sessions among small talk and *near misses*
(the same people, places and words in other contexts). Questions are asked after the last
session and name the ids of the exchanges that hold the answer:

- ``single``: one exchange answers it; questions are paraphrased (different words than the
  statement), so neither exact word overlap nor embeddings alone are enough;
- ``multi``: two exchanges are needed (a person introduced in one, their detail in another);
- ``temporal``: the user's situation changed (moved, new job, new book...); the answer is the
  latest statement, an older one about the same thing is a distractor.

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

SEED = 20260301
USERS = 14
SESSIONS = 16
OUT = Path(__file__).resolve().parent / "memory_eval.json"

NAMES = [
    "Olga",
    "Dima",
    "Pavel",
    "Irina",
    "Sergei",
    "Anya",
    "Kostya",
    "Marina",
    "Lev",
    "Vera",
    "Timur",
    "Nadia",
    "Gleb",
    "Sonya",
    "Artem",
    "Yulia",
    "Boris",
    "Katya",
    "Roman",
    "Lena",
]
CITIES = [
    "Kazan",
    "Sochi",
    "Tver",
    "Omsk",
    "Samara",
    "Perm",
    "Tomsk",
    "Yaroslavl",
    "Vladimir",
    "Kaliningrad",
    "Irkutsk",
    "Murmansk",
    "Rostov",
    "Ufa",
    "Novgorod",
    "Pskov",
]
PETS = [
    ("dog", "puppy", "beagle"),
    ("cat", "kitten", "tabby"),
    ("parrot", "bird", "budgie"),
    ("rabbit", "bunny", "lop-eared rabbit"),
    ("hamster", "little rodent", "hamster"),
]
PET_NAMES = [
    "Biscuit",
    "Mango",
    "Pixel",
    "Noodle",
    "Ziggy",
    "Pepper",
    "Waffle",
    "Comet",
    "Fig",
    "Toffee",
    "Rocket",
    "Bublik",
]
JOBS = [
    "nurse",
    "software tester",
    "bakery manager",
    "school teacher",
    "architect",
    "bus driver",
    "pharmacist",
    "graphic designer",
    "accountant",
    "veterinarian",
    "sound engineer",
    "florist",
]
HOBBIES = [
    ("pottery", "throwing clay bowls on the wheel"),
    ("climbing", "bouldering at the gym"),
    ("chess", "playing blitz chess online"),
    ("knitting", "knitting scarves"),
    ("birdwatching", "spotting birds in the park"),
    ("salsa", "salsa dancing classes"),
    ("photography", "shooting film photos"),
    ("swimming", "laps at the pool"),
]
INSTRUMENTS = ["guitar", "violin", "ukulele", "keyboard", "cello", "drum kit"]
RELATIVES = ["uncle", "aunt", "grandfather", "grandmother", "cousin", "godmother"]
BOOKS = [
    "The Master and Margarita",
    "Dune",
    "Anna Karenina",
    "The Hobbit",
    "Solaris",
    "Project Hail Mary",
    "Crime and Punishment",
    "The Name of the Wind",
    "Circe",
    "Roadside Picnic",
]
FOODS = [
    ("peanuts", "peanut"),
    ("shellfish", "shrimp"),
    ("gluten", "bread"),
    ("lactose", "milk"),
    ("strawberries", "strawberry"),
]
TRIPS = [
    "Georgia",
    "Armenia",
    "Turkey",
    "Vietnam",
    "Altai",
    "Baikal",
    "Kamchatka",
    "Uzbekistan",
    "Montenegro",
    "Karelia",
]
CARS = ["old Lada", "Kia Rio", "Skoda Octavia", "Renault Logan", "Hyundai Solaris"]
GOALS = [
    ("run a half marathon", "running"),
    ("learn Spanish", "Spanish lessons"),
    ("save for a flat", "saving money"),
    ("get a driving licence", "driving lessons"),
    ("read fifty books this year", "reading challenge"),
]
EVENTS = [
    ("driving test", "exam"),
    ("job interview", "interview"),
    ("dentist surgery", "appointment"),
    ("sister's wedding", "wedding"),
    ("piano recital", "concert"),
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

SMALL_TALK = [
    "Ugh, it's raining again and I forgot my umbrella.",
    "I had the weirdest dream last night, something about trains.",
    "Just made a huge pot of soup, the whole flat smells of dill.",
    "Honestly I'm so tired today, work was endless.",
    "Do you ever feel like the week is both long and short?",
    "I binge-watched a detective series all evening.",
    "The neighbours are drilling again, on a Sunday!",
    "I tried a new coffee place, the croissants were amazing.",
    "My phone battery dies so fast these days.",
    "It finally snowed properly, everything looks magical.",
    "I can't decide what to cook for dinner.",
    "Traffic this morning was a nightmare.",
    "I spent the whole afternoon cleaning the flat.",
    "The heating in our building is barely working.",
    "I'm thinking of repainting the kitchen walls.",
    "There was a beautiful sunset over the river today.",
    "I found an old photo album in the closet, so nostalgic.",
    "My back hurts from sitting at the desk all day.",
    "We ordered pizza and watched a silly comedy.",
    "I've been listening to a lot of old rock lately.",
    "The supermarket ran out of my favourite yoghurt.",
    "I walked ten thousand steps today, proud of myself.",
    "Someone left a very polite note about the bins in our lobby.",
    "I'm trying to drink more water, it's harder than it sounds.",
    "Spring cleaning season, I threw out three bags of stuff.",
    "The metro was so crowded I couldn't breathe.",
]
REPLIES = [
    "Oh, tell me more!",
    "That sounds lovely.",
    "I'm here for you.",
    "Ha, I can imagine!",
    "How did that make you feel?",
    "That's a lot to handle.",
    "Nice, I'm glad to hear it.",
    "Hmm, interesting. What happened next?",
    "Aw, that's sweet.",
    "I see, go on.",
]


@dataclass
class Exchange:
    text: str
    reply: str
    key: str | None = None  # names the fact, so questions can point at it


@dataclass
class UserPlan:
    sessions: list[list[Exchange]] = field(default_factory=lambda: [[] for _ in range(SESSIONS)])
    questions: list[tuple[str, str, list[str]]] = field(default_factory=list)  # type, q, keys

    def put(
        self,
        session: int,
        text: str,
        key: str | None = None,
        reply: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        rng = rng or random.Random(0)
        self.sessions[session].append(Exchange(text, reply or rng.choice(REPLIES), key))


def plan_user(rng: random.Random) -> UserPlan:
    plan = UserPlan()
    names = rng.sample(NAMES, 8)
    cities = rng.sample(CITIES, 5)

    def s(lo: int, hi: int) -> int:
        """A session number in [lo, hi]."""
        return rng.randint(lo, hi)

    def put(session: int, text: str, key: str | None = None, reply: str | None = None) -> None:
        plan.put(session, text, key, reply, rng)

    def ask(kind: str, question: str, *keys: str) -> None:
        plan.questions.append((kind, question, list(keys)))

    # --- single-hop facts -------------------------------------------------------------
    species, young, breed = rng.choice(PETS)
    pet = rng.choice(PET_NAMES)
    put(
        s(0, 9),
        rng.choice(
            [
                f"We finally adopted a {breed}! I named the little one {pet}.",
                f"Guess what, there's a {young} living with us now, {pet} is the name.",
                f"Meet {pet}, our new {species}. Total chaos already.",
            ]
        ),
        "pet",
        f"{pet}! What a cute name.",
    )
    other_pet = rng.choice([p for p in PET_NAMES if p != pet])
    put(s(0, 15), f"My neighbour's {rng.choice(PETS)[0]} {other_pet} keeps barking at the postman.")
    put(
        s(3, 15),
        rng.choice(
            [
                f"{pet} chewed through the charger cable again.",
                f"Took {pet} to the vet, just a routine check.",
            ]
        ),
    )
    ask(
        "single",
        rng.choice(
            [
                "What is my pet called?",
                "Remind me, what name did I give our animal?",
                "What's the name of the furry family member we got?",
            ]
        ),
        "pet",
    )

    sibling, sibling_job = names[0], rng.choice(JOBS)
    rel = rng.choice(["sister", "brother"])
    put(
        s(0, 8),
        rng.choice(
            [
                f"My {rel} {sibling} just got hired as a {sibling_job}.",
                f"{sibling}, my {rel}, started working as a {sibling_job} this month.",
            ]
        ),
        "sibling_job",
    )
    put(s(0, 15), f"My colleague also has a {rel}, they never stop arguing.")
    put(s(2, 15), f"Had dinner with {sibling} yesterday, we laughed a lot.")
    ask(
        "single",
        rng.choice(
            [
                f"What does {sibling} do for a living?",
                f"What is my {rel}'s profession?",
                f"Which job did {sibling} get?",
            ]
        ),
        "sibling_job",
    )

    hobby, hobby_desc = rng.choice(HOBBIES)
    put(
        s(1, 10),
        rng.choice(
            [
                f"I signed up for {hobby} classes, {hobby_desc} is so calming.",
                f"New hobby unlocked: {hobby_desc}. I'm hooked.",
            ]
        ),
        "hobby",
    )
    put(s(0, 15), "I watched a documentary about people's strange hobbies.")
    ask(
        "single",
        rng.choice(
            [
                "What pastime did I recently pick up?",
                "Which new activity did I start doing for fun?",
                "What was that relaxing class I joined?",
            ]
        ),
        "hobby",
    )

    allergen, food = rng.choice(FOODS)
    put(
        s(0, 12),
        rng.choice(
            [
                f"Found out at the clinic that I'm allergic to {allergen}.",
                f"I can't eat anything with {allergen} anymore, the allergy test was positive.",
            ]
        ),
        "allergy",
    )
    put(s(0, 15), f"Bought some {food} products for my mum's party.")
    ask(
        "single",
        rng.choice(
            [
                "Which food should I avoid because of my allergy?",
                "What did the doctors say I react badly to?",
                "What am I allergic to?",
            ]
        ),
        "allergy",
    )

    event, kind = rng.choice(EVENTS)
    month = rng.choice(MONTHS)
    put(
        s(4, 13),
        rng.choice(
            [
                f"My {event} is scheduled for the 14th of {month}, I'm nervous.",
                f"So the {event} date is set: {month} 14.",
            ]
        ),
        "event",
    )
    put(s(0, 15), f"A friend told me a horror story about her {kind}.")
    ask(
        "single",
        rng.choice(
            [
                f"When is my {event} happening?",
                f"What date did they give me for the {event}?",
            ]
        ),
        "event",
    )

    trip = rng.choice(TRIPS)
    put(
        s(2, 14),
        rng.choice(
            [
                f"We booked tickets to {trip} for the holidays!",
                f"Vacation plan: two weeks in {trip}, hiking and food.",
            ]
        ),
        "trip",
    )
    put(s(0, 15), "My coworker just came back from a beach holiday, so jealous.")
    ask(
        "single",
        rng.choice(
            [
                "Where am I travelling on vacation?",
                "Which destination did we book for the holidays?",
                "Where are we going for our time off?",
            ]
        ),
        "trip",
    )

    goal, goal_word = rng.choice(GOALS)
    put(
        s(0, 10),
        rng.choice(
            [
                f"My big goal this year is to {goal}.",
                f"I promised myself I would {goal} before the year ends.",
            ]
        ),
        "goal",
    )
    put(s(5, 15), f"Skipped my {goal_word} this week, feeling guilty.")
    ask(
        "single",
        rng.choice(
            [
                "What did I say my main ambition for this year was?",
                "Which resolution did I make for the year?",
            ]
        ),
        "goal",
    )

    partner = names[1]
    place = rng.choice(
        [
            "a bookshop",
            "a friend's wedding",
            "a climbing gym",
            "the metro",
            "a language exchange",
            "a concert",
        ]
    )
    put(
        s(0, 9),
        rng.choice(
            [
                f"I met {partner} at {place}, we've been dating since.",
                f"Funny story, {partner} and I first met at {place}.",
            ]
        ),
        "partner",
    )
    put(s(2, 15), f"{partner} cooked dinner tonight, it was delicious.")
    put(s(0, 15), f"Saw a couple at {place} today who reminded me of my parents.")
    ask(
        "single",
        rng.choice(
            [
                f"Where did I first meet {partner}?",
                "How did my partner and I get to know each other?",
            ]
        ),
        "partner",
    )

    car = rng.choice(CARS)
    put(
        s(3, 14),
        rng.choice(
            [
                f"The {car} broke down on the highway, the gearbox is dead.",
                f"My {car} won't start, the mechanic says it's the gearbox.",
            ]
        ),
        "car",
    )
    put(s(0, 15), "Took a taxi today, the driver talked the whole way.")
    ask(
        "single",
        rng.choice(
            [
                "What went wrong with my vehicle?",
                "Why did my car stop working?",
            ]
        ),
        "car",
    )

    # --- multi-hop -----------------------------------------------------------------------
    relative, gift_name = rng.choice(RELATIVES), names[2]
    instrument = rng.choice(INSTRUMENTS)
    first = s(0, 7)
    put(first, f"My {relative} {gift_name} gave me a {instrument} for my birthday!", "gift")
    put(
        s(first + 1, 15), f"{gift_name} just moved to {cities[0]}, far from all of us.", "gift_city"
    )
    put(s(0, 15), f"I heard a street musician playing the {instrument} downtown.")
    ask(
        "multi",
        rng.choice(
            [
                f"In which city does the person who gave me the {instrument} live now?",
                f"Where is the relative who got me my {instrument} living these days?",
            ]
        ),
        "gift",
        "gift_city",
    )

    colleague, book = names[3], rng.choice(BOOKS)
    first = s(0, 8)
    put(first, f"My colleague {colleague} keeps recommending '{book}' to me.", "book_rec")
    put(
        s(first + 1, 15),
        rng.choice(
            [
                f"Finished '{book}' last night, the ending made me cry.",
                f"I just finished '{book}', what an ending.",
            ]
        ),
        "book_done",
    )
    ask(
        "multi",
        rng.choice(
            [
                f"Did I end up reading what {colleague} suggested, and how did I like it?",
                "What did I think of the novel my coworker recommended?",
            ]
        ),
        "book_rec",
        "book_done",
    )

    friend = names[4]
    first = s(0, 8)
    put(first, f"{friend} is my oldest friend, we've known each other since school.", "friend")
    put(s(first + 1, 15), f"{friend} is getting married in {rng.choice(MONTHS)}!", "friend_wed")
    put(s(0, 15), "Went to a wedding fair with my cousin, so many dresses.")
    ask(
        "multi",
        rng.choice(
            [
                "When is my childhood friend's wedding?",
                "My best friend from school is getting married - when was it again?",
            ]
        ),
        "friend",
        "friend_wed",
    )

    # --- temporal: the latest statement is the answer ------------------------------------
    home_old, home_new = cities[1], cities[2]
    put(s(0, 4), f"I've lived in {home_old} my whole life.", "home_old")
    put(s(5, 8), f"Thinking about maybe leaving {home_old} one day.")
    put(
        s(11, 15),
        rng.choice(
            [
                f"We finally moved to {home_new}! Boxes everywhere.",
                f"Writing from our new flat in {home_new}, the move is done.",
            ]
        ),
        "home_new",
    )
    ask(
        "temporal",
        rng.choice(
            [
                "Which city do I live in now?",
                "Where is home for me these days?",
            ]
        ),
        "home_new",
    )

    job_old, job_new = rng.sample(JOBS, 2)
    put(s(0, 5), f"I work as a {job_old}, it's exhausting but fine.", "job_old")
    put(
        s(10, 15),
        rng.choice(
            [
                f"Big news: I quit and started a new job as a {job_new}!",
                f"First week as a {job_new}, so different from my old job.",
            ]
        ),
        "job_new",
    )
    ask(
        "temporal",
        rng.choice(
            [
                "What is my current job?",
                "What do I do for work at the moment?",
            ]
        ),
        "job_new",
    )

    book_old, book_new = rng.sample([b for b in BOOKS if b != book], 2)
    put(s(0, 6), f"I'm reading '{book_old}' right now, slowly.", "read_old")
    put(s(9, 15), f"Started '{book_new}' on my commute, can't put it down.", "read_new")
    ask(
        "temporal",
        rng.choice(
            [
                "Which book am I reading at the moment?",
                "What's on my nightstand these days?",
            ]
        ),
        "read_new",
    )

    diet_old, diet_new = rng.sample(
        ["vegetarian", "keto", "vegan", "intermittent fasting", "low-sugar"], 2
    )
    put(s(0, 6), f"I'm trying a {diet_old} diet this month.", "diet_old")
    put(s(10, 15), f"Switched to {diet_new} eating, feeling much better.", "diet_new")
    ask(
        "temporal",
        rng.choice(
            [
                "What kind of diet am I following lately?",
                "How am I eating these days, diet-wise?",
            ]
        ),
        "diet_new",
    )

    # --- filler --------------------------------------------------------------------------
    for session in plan.sessions:
        for text in rng.sample(SMALL_TALK, rng.randint(5, 8)):
            session.append(Exchange(text, rng.choice(REPLIES)))
        rng.shuffle(session)
    return plan


def build(seed: int = SEED) -> dict[str, Any]:
    rng = random.Random(seed)
    start = datetime(2025, 9, 1, 19, 0, tzinfo=UTC)
    users: list[dict[str, Any]] = []
    questions: list[dict[str, Any]] = []
    for user_index in range(USERS):
        plan = plan_user(rng)
        user_id = 1000 + user_index
        key_ids: dict[str, str] = {}
        sessions: list[dict[str, Any]] = []
        day = start + timedelta(days=rng.randint(0, 6))
        for session_index, exchanges in enumerate(plan.sessions):
            session_id = f"u{user_id}-s{session_index:02d}"
            when = day
            turns: list[dict[str, Any]] = []
            for turn_index, exchange in enumerate(exchanges):
                turn_id = f"{session_id}-t{turn_index:02d}"
                at = (when + timedelta(minutes=2 * turn_index)).isoformat()
                turns.append({"id": turn_id, "role": "user", "text": exchange.text, "at": at})
                turns.append(
                    {"id": f"{turn_id}r", "role": "assistant", "text": exchange.reply, "at": at}
                )
                if exchange.key:
                    key_ids[exchange.key] = turn_id
            sessions.append({"id": session_id, "date": when.date().isoformat(), "turns": turns})
            day = day + timedelta(days=rng.randint(9, 20))
        asked_at = (day + timedelta(days=1)).isoformat()
        users.append({"user_id": user_id, "sessions": sessions})
        for n, (kind, question, keys) in enumerate(plan.questions):
            questions.append(
                {
                    "id": f"u{user_id}-q{n:02d}",
                    "user_id": user_id,
                    "type": kind,
                    "question": question,
                    "asked_at": asked_at,
                    "evidence": [key_ids[key] for key in keys],
                }
            )
    return {"seed": seed, "users": users, "questions": questions}


def main() -> None:
    parser = argparse.ArgumentParser(description="Generate the memory evaluation set.")
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
