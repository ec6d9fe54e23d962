"""Proactive check-ins (issue 19): the persona writes first, rarely and kindly.

- `planner`: when to write (the evening of a remembered event, after days of silence);
- `policies`: whether it may be sent now (consent, opt-out, blocked, quiet hours, weekly cap,
  the crisis guard, the persona still chosen);
- `store`: the jobs in MongoDB, with leases so each job runs once across workers;
- `writer`: the text, by the persona through the LLM (or a reviewed template after a crisis);
- `service` and `scheduler`: one job end to end, and the loop that claims due jobs.

See docs/outreach.md.
"""
