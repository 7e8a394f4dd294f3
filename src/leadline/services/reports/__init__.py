"""Analytics reports read from the stage history, leads, events, campaigns and deals (`leadline.core.funnel`,
`core.attribution` and `core.experiments` hold the maths)."""
