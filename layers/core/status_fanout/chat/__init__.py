"""Chat destinations (docs/contract.md §10, docs/chat.md): an event as a
Slack, Microsoft Teams, Discord or Google Chat message, for webhook
endpoints whose `format` is one of those apps. The webhook channel sends
them; this package only says what each app is sent, and where it may be."""
