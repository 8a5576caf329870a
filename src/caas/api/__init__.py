"""HTTP edge: the app factory (``app``), the small routing and error framework (``framework``),
and one module per service (``identity``, ...). Each handler parses, calls one service
function and renders; no domain logic lives here."""
