"""Participants: a personal calendar for every subscriber of a creator, kept in step.

roster.py reads the roster from a CSV (and holds the roster model), upstream_roster.py from
TagMango and TrainerCentral, sync.py reconciles the participant feeds with it and lists their
links, hooks.py handles TagMango's `subscription.expired`. `calbridge participants`
(bridge/cli_participants.py) and `/api/v1/participants` (bridge/web/participants_api.py) are
the ways in.
"""
