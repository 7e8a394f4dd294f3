"""Segments: saved filters (dynamic), static lists and personas (`catalog`); membership kept up to date as events
and field changes arrive (`membership`). Import the submodules: leads and events import `membership`."""
