// Long-lived ical.js worker for tests/ical_validators.py: expands feeds the way Thunderbird does.
//
// Protocol: one JSON object per line on stdin, {"id", "ics", "start", "end"} (ISO UTC instants);
// one JSON object per line on stdout, {"id", "occurrences": [...], "errors": [...]} or
// {"id", "fatal": "message"} when ical.js cannot read the feed at all.
// Thunderbird runs ical.js with design.strict = false (comm-central CalICSService.worker.mjs),
// takes time zones from the file's VTIMEZONEs, and attaches RECURRENCE-ID overrides to their
// master by UID (CalIcsParser.sys.mjs); an override without a master becomes its own event.
import readline from "node:readline";
import ICAL from "ical.js";

ICAL.design.strict = false;

// Overrides can move an occurrence from well after the window into it: look this far ahead.
const LOOKAHEAD_DAYS = 400;
const MAX_OCCURRENCES = 100000;

function utcString(time) {
  if (time.isDate) {
    return time.toString();
  }
  return time.convertToZone(ICAL.Timezone.utcTimezone).toString();
}

function occurrence(item, startDate, endDate) {
  return {
    uid: item.uid || "",
    summary: item.summary || "",
    status: (item.component.getFirstPropertyValue("status") || "CONFIRMED").toUpperCase(),
    start: utcString(startDate),
    end: utcString(endDate || startDate),
  };
}

function registerTimezones(root, errors) {
  ICAL.TimezoneService.reset();
  const known = new Set(["UTC", "Z", "GMT"]);
  for (const vtimezone of root.getAllSubcomponents("vtimezone")) {
    const zone = new ICAL.Timezone(vtimezone);
    if (!zone.tzid) {
      errors.push("VTIMEZONE without TZID");
      continue;
    }
    ICAL.TimezoneService.register(zone);
    known.add(zone.tzid);
  }
  return known;
}

function checkTzids(events, known, errors) {
  for (const event of events) {
    for (const prop of event.getAllProperties()) {
      const tzid = prop.getParameter("tzid");
      if (tzid && !known.has(tzid)) {
        errors.push(
          `${prop.name.toUpperCase()};TZID=${tzid} has no VTIMEZONE ` +
            "(Thunderbird shows a time zone error and treats the time as floating)",
        );
      }
    }
  }
}

function expandEvent(event, limit, occurrences, errors) {
  if (!event.isRecurring()) {
    occurrences.push(occurrence(event, event.startDate, event.endDate));
    return;
  }
  const iterator = event.iterator();
  let count = 0;
  for (let next = iterator.next(); next; next = iterator.next()) {
    if (next.compare(limit) > 0) {
      break;
    }
    if (++count > MAX_OCCURRENCES) {
      errors.push(`UID ${event.uid}: more than ${MAX_OCCURRENCES} occurrences, expansion stopped`);
      break;
    }
    const details = event.getOccurrenceDetails(next);
    occurrences.push(occurrence(details.item, details.startDate, details.endDate));
  }
}

function expand(ics, endIso) {
  const jcal = ICAL.parse(ics);
  if (Array.isArray(jcal[0])) {
    return { fatal: `expected one VCALENDAR, found ${jcal.length} top-level components` };
  }
  const root = new ICAL.Component(jcal);
  if (root.name !== "vcalendar") {
    return { fatal: `top-level component is ${root.name.toUpperCase()}, not VCALENDAR` };
  }
  const errors = [];
  const occurrences = [];
  const known = registerTimezones(root, errors);
  const components = root.getAllSubcomponents("vevent");
  checkTzids(components, known, errors);

  const limit = ICAL.Time.fromJSDate(new Date(endIso), true);
  limit.adjust(LOOKAHEAD_DAYS, 0, 0, 0);
  const masters = new Map();
  const overrides = [];
  for (const component of components) {
    if (component.hasProperty("recurrence-id")) {
      overrides.push(component);
    } else {
      const event = new ICAL.Event(component, { exceptions: [] });
      masters.set(event.uid, event);
    }
  }
  for (const override of overrides) {
    const master = masters.get(override.getFirstPropertyValue("uid"));
    if (master) {
      master.relateException(override);
    } else {
      const orphan = new ICAL.Event(override, { exceptions: [] });
      occurrences.push(occurrence(orphan, orphan.startDate, orphan.endDate));
    }
  }
  for (const component of components) {
    if (!component.hasProperty("recurrence-id")) {
      const uid = component.getFirstPropertyValue("uid");
      const event = masters.get(uid);
      if (event && event.component === component) {
        expandEvent(event, limit, occurrences, errors);
      } else {
        // A second master with the same UID: Thunderbird keeps one item per UID.
        errors.push(`UID ${uid}: more than one VEVENT without RECURRENCE-ID`);
      }
    }
  }
  return { occurrences, errors };
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on("line", (line) => {
  let request = { id: null };
  let reply;
  try {
    request = JSON.parse(line);
    reply = expand(request.ics, request.end);
  } catch (error) {
    reply = { fatal: `${error.name}: ${error.message}` };
  }
  process.stdout.write(JSON.stringify({ id: request.id, ...reply }) + "\n");
});
