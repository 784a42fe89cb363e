"""Important updates to customers (issue 6): campaigns by Telegram and SMS.

- `segments`: who a campaign is for (all, verified, language=, tag=, topic=);
- `consent`: who may be sent what, `/notifications` in the chat, SMS STOP/START/HELP;
- `templates`: the customer's name and language in the text, SMS segments;
- `service`: preview and create a campaign (recipient rows, in one transaction);
- `worker`: sends: SMS through Twilio, Telegram by feeding the outbox;
- `guard`: the last consent check in front of the Telegram outbox dispatcher.
"""

from helpdesk.campaigns.segments import Segment, SegmentError, parse_segment

__all__ = ["Segment", "SegmentError", "parse_segment"]
