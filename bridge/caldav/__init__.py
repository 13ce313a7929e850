"""The read-only CalDAV view of feeds: the resource tree and its properties (`resources`),
PROPFIND and REPORT answers (`reports`) and the XML they are written in (`xml`). The web
endpoint is bridge.web.caldav."""
