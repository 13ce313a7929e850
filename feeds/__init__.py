"""Pure core of calbridge: upstream JSON → Sessions → iCalendar bytes.

Nothing in this package touches Flask, the network or a database, so every
function here can be tested with plain data.
"""
