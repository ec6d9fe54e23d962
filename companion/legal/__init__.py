"""Terms of use, privacy policy and public offer: templates shipped in the package, rendered
with the operator's details (`settings.legal`) and the PRO plans, served by the bot's own web
server at ``/legal/{terms,privacy,offer}`` (`companion.legal.web`).

The texts are templates for an operator to review with their lawyer, not legal advice; the
bot links to them until the operator sets external pages (`telegram.terms_url`, ...).
"""
