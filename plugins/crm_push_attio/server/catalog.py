"""Standard objects and their attributes, as data.

Modelled on Attio's standard objects (people, companies, users, workspaces, deals). Each
attribute is a dict of flags; `state.State` builds its definitions from these, and tests
add more at run time with `AttioServer.add_attribute`. Keys:

- ``type``: Attio attribute type (text, email-address, record-reference, ...)
- ``title``; ``unique``, ``multiselect``, ``writable``, ``required``, ``system`` (bool flags)
- ``targets``: objects a record-reference may point to
- ``relationship``: (object, attribute) kept in sync the other way round
- ``options`` / ``statuses``: titles of select options / statuses
- ``currency``: currency code of a currency attribute
- ``auto``: filled by the server on create (record_id, created_at, created_by)
"""

from __future__ import annotations

from typing import Any

AttributeSpec = dict[str, Any]

# Attributes every record has; Attio fills them and refuses writes.
_RECORD_SYSTEM: dict[str, AttributeSpec] = {
    "record_id": {"type": "text", "title": "Record ID", "writable": False, "auto": "record_id"},
    "created_at": {
        "type": "timestamp",
        "title": "Created at",
        "writable": False,
        "auto": "created_at",
    },
    "created_by": {
        "type": "actor-reference",
        "title": "Created by",
        "writable": False,
        "auto": "created_by",
    },
}

_CONNECTION_STRENGTHS = ["Very weak", "Weak", "Good", "Strong", "Very strong"]

STANDARD_OBJECTS: dict[str, dict[str, Any]] = {
    "people": {
        "singular": "Person",
        "plural": "People",
        "attributes": {
            "record_id": _RECORD_SYSTEM["record_id"],
            "name": {"type": "personal-name", "title": "Name"},
            "email_addresses": {
                "type": "email-address",
                "title": "Email addresses",
                "unique": True,
                "multiselect": True,
            },
            "description": {"type": "text", "title": "Description"},
            "company": {
                "type": "record-reference",
                "title": "Company",
                "targets": ["companies"],
                "relationship": ("companies", "team"),
            },
            "job_title": {"type": "text", "title": "Job title"},
            "phone_numbers": {
                "type": "phone-number",
                "title": "Phone numbers",
                "multiselect": True,
            },
            "primary_location": {"type": "location", "title": "Primary location"},
            "linkedin": {"type": "text", "title": "LinkedIn"},
            "twitter": {"type": "text", "title": "Twitter"},
            # Enriched by Attio, not writable through the API.
            "avatar_url": {"type": "text", "title": "Avatar URL", "writable": False},
            "strongest_connection_strength": {
                "type": "select",
                "title": "Strongest connection strength",
                "writable": False,
                "options": _CONNECTION_STRENGTHS,
            },
            "created_at": _RECORD_SYSTEM["created_at"],
            "created_by": _RECORD_SYSTEM["created_by"],
        },
    },
    "companies": {
        "singular": "Company",
        "plural": "Companies",
        "attributes": {
            "record_id": _RECORD_SYSTEM["record_id"],
            "domains": {
                "type": "domain",
                "title": "Domains",
                "unique": True,
                "multiselect": True,
            },
            "name": {"type": "text", "title": "Name"},
            "description": {"type": "text", "title": "Description"},
            "team": {
                "type": "record-reference",
                "title": "Team",
                "targets": ["people"],
                "multiselect": True,
                "relationship": ("people", "company"),
            },
            "categories": {
                "type": "select",
                "title": "Categories",
                "multiselect": True,
                "options": [
                    "B2B",
                    "B2C",
                    "SAAS",
                    "E-commerce",
                    "Enterprise",
                    "Marketplace",
                    "Technology",
                    "Finance",
                ],
            },
            "primary_location": {"type": "location", "title": "Primary location"},
            "linkedin": {"type": "text", "title": "LinkedIn"},
            "twitter": {"type": "text", "title": "Twitter"},
            "estimated_arr_usd": {
                "type": "select",
                "title": "Estimated ARR",
                "options": [
                    "$0-$1M",
                    "$1M-$10M",
                    "$10M-$50M",
                    "$50M-$100M",
                    "$100M-$250M",
                    "$250M-$500M",
                    "$500M-$1B",
                    "$1B-$10B",
                    "$10B+",
                ],
            },
            "employee_range": {
                "type": "select",
                "title": "Employee range",
                "options": ["1-10", "11-50", "51-250", "251-1K", "1K-5K", "5K-10K", "10K+"],
            },
            "funding_raised_usd": {
                "type": "currency",
                "title": "Funding raised",
                "currency": "USD",
            },
            "foundation_date": {"type": "date", "title": "Foundation date"},
            # Enriched by Attio, not writable through the API.
            "logo_url": {"type": "text", "title": "Logo URL", "writable": False},
            "twitter_follower_count": {
                "type": "number",
                "title": "Twitter follower count",
                "writable": False,
            },
            "created_at": _RECORD_SYSTEM["created_at"],
            "created_by": _RECORD_SYSTEM["created_by"],
        },
    },
    "users": {
        "singular": "User",
        "plural": "Users",
        "attributes": {
            "record_id": _RECORD_SYSTEM["record_id"],
            "user_id": {"type": "text", "title": "ID", "unique": True},
            "primary_email_address": {
                "type": "email-address",
                "title": "Email",
                "unique": True,
            },
            "person": {"type": "record-reference", "title": "Person", "targets": ["people"]},
            "workspace": {
                "type": "record-reference",
                "title": "Workspace",
                "targets": ["workspaces"],
                "multiselect": True,
                "relationship": ("workspaces", "users"),
            },
            "created_at": _RECORD_SYSTEM["created_at"],
            "created_by": _RECORD_SYSTEM["created_by"],
        },
    },
    "workspaces": {
        "singular": "Workspace",
        "plural": "Workspaces",
        "attributes": {
            "record_id": _RECORD_SYSTEM["record_id"],
            "workspace_id": {"type": "text", "title": "Workspace ID", "unique": True},
            "name": {"type": "text", "title": "Name"},
            "company": {
                "type": "record-reference",
                "title": "Company",
                "targets": ["companies"],
            },
            "users": {
                "type": "record-reference",
                "title": "Users",
                "targets": ["users"],
                "multiselect": True,
                "relationship": ("users", "workspace"),
            },
            "avatar_url": {"type": "text", "title": "Avatar URL"},
            "created_at": _RECORD_SYSTEM["created_at"],
            "created_by": _RECORD_SYSTEM["created_by"],
        },
    },
    # Attio's deals object, plus custom attributes (system=False) so every writable value
    # type has an attribute to test against.
    "deals": {
        "singular": "Deal",
        "plural": "Deals",
        "attributes": {
            "record_id": _RECORD_SYSTEM["record_id"],
            "name": {"type": "text", "title": "Deal name", "required": True},
            "stage": {
                "type": "status",
                "title": "Deal stage",
                "required": True,
                "statuses": ["Lead", "In Progress", "Won 🎉", "Lost"],
            },
            "owner": {"type": "actor-reference", "title": "Deal owner"},
            "value": {"type": "currency", "title": "Deal value", "currency": "USD"},
            "associated_people": {
                "type": "record-reference",
                "title": "Associated people",
                "targets": ["people"],
                "multiselect": True,
            },
            "associated_company": {
                "type": "record-reference",
                "title": "Associated company",
                "targets": ["companies"],
            },
            "is_qualified": {"type": "checkbox", "title": "Qualified", "system": False},
            "close_date": {"type": "date", "title": "Close date", "system": False},
            "probability": {"type": "number", "title": "Probability", "system": False},
            "priority": {"type": "rating", "title": "Priority", "system": False},
            "last_contacted_at": {
                "type": "timestamp",
                "title": "Last contacted at",
                "system": False,
            },
            "source": {
                "type": "select",
                "title": "Source",
                "system": False,
                "options": ["Website", "Referral", "Event"],
            },
            "external_id": {
                "type": "text",
                "title": "External ID",
                "system": False,
                "unique": True,
            },
            "created_at": _RECORD_SYSTEM["created_at"],
            "created_by": _RECORD_SYSTEM["created_by"],
        },
    },
}

DEFAULT_ACTIVATED = ("people", "companies")

# Which attribute a plain string record reference is matched on, per target object.
STRING_REFERENCE_MATCH = {
    "companies": "domains",
    "people": "email_addresses",
    "users": "user_id",
    "workspaces": "workspace_id",
}

DEFAULT_WORKSPACE_MEMBERS = (
    {
        "first_name": "Local",
        "last_name": "Admin",
        "email_address": "admin@example.com",
        "access_level": "admin",
    },
)
