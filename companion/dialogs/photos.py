"""Which gallery picture goes with a reply, if any: the model's hint or the user's request."""

from __future__ import annotations

from collections.abc import Sequence

from companion.dialogs.events import PhotoToSend
from companion.domain.models import Message, User
from companion.domain.personas import Persona
from companion.domain.ports import PersonaCatalog
from companion.personas import gallery


def choose_photo(
    personas: PersonaCatalog,
    user: User,
    persona: Persona,
    text: str,
    hint: str | None,
    history: Sequence[Message],
    language: str,
) -> PhotoToSend | None:
    if not persona.gallery or (hint is None and not gallery.wants_photo(text, language)):
        return None
    last_sent = next((str(m.meta["photo"]) for m in reversed(history) if m.meta.get("photo")), None)
    # Access to adult personas was checked already (PRO + 18+); adult images exist only there.
    allow_adult = persona.adult and user.is_adult_confirmed
    image = gallery.pick_image(
        persona,
        " ".join(filter(None, [hint, text])),
        language=language,
        exclude_file=last_sent,
        allow_adult=allow_adult,
    )
    if image is None:
        return None
    path = personas.image_path(persona, image)
    return PhotoToSend(image=image, path=str(path), caption=image.caption.get(language))
