"""The records and ports every other package shares; it imports nothing else of ours.

`models`: what the service stores (users, conversations, messages, subscriptions, events).
`personas`: what a persona card describes. `ports`: the small protocols the services need
from storage, memory, billing and each other, so none of them has to import the others.
"""
