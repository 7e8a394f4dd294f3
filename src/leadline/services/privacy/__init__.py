"""Data rights: where a person's data lives (`datamap`), access (`export`), erasure and anonymisation
(`erasure`), requests and their deadlines (`requests`), retention (`retention`), the preference centre and
double opt-in (`preferences`), and scrubbing freed database pages (`scrub`)."""
