"""HTTP blueprints: feeds (.ics), pages (HTML), join (redirects), api (admin JSON)."""
