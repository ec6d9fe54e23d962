"""Character-break rules shared by the training persona check (training/scoring.py) and the
served-model quality gate (`companion eval`): the model talking about itself as an AI, a
language model or a bot, and the name it gives itself, in English and Russian."""

from __future__ import annotations

import re

BREAK_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\bas an? (ai|artificial intelligence|language model|assistant)\b",
        r"\b(i am|i'm) (only |just )?an? (ai|artificial intelligence|language model|"
        r"chatbot|bot|virtual assistant|computer program)\b",
        r"\blarge language model\b",
        r"\b(openai|chatgpt|anthropic)\b",
        r"\bi (do not|don't) have (feelings|emotions|a body|personal experiences)\b",
        r"\bя\s+(всего лишь\s+|просто\s+)?(языковая модель|искусственный интеллект|ии|"
        r"чат-бот|бот|нейросеть|программа)\b",
        r"\bкак (языковая модель|искусственный интеллект|ии)\b",
        r"\bу меня нет (чувств|эмоций|тела)\b",
    )
)
NAME_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\bmy name is\s+([^\W\d_][\w-]*)",
        r"\bcall me\s+([^\W\d_][\w-]*)",
        r"меня зовут\s+([^\W\d_][\w-]*)",
        r"зови меня\s+([^\W\d_][\w-]*)",
    )
)
