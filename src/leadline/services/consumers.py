"""Every outbox consumer, imported once so that `leadline.services.outbox` knows who listens to what.

Add a module here when it registers consumers with `@outbox.consumer(...)`.
"""

from __future__ import annotations

from leadline.nurture import triggers as _nurture  # noqa: F401  (issue 5: workflow triggers and exits)
from leadline.services import (  # noqa: F401
    lifecycle,
    notifications,
    routing_events,
    webhooks,
)
from leadline.services.privacy import preferences as _privacy  # noqa: F401  (double opt-in confirmation emails)
from leadline.services.segments import membership as _segments  # noqa: F401  (lead.stage_changed -> dirty leads)
