"""The web app for marketers and sales: server-rendered pages (Jinja2), progressive enhancement with htmx,
English and French. Views are thin: they call `leadline.services` and render templates."""
