"""Customers: the host app's tenants, and who is signed in.

A real app has accounts and passwords; this one has two fixed customers and a "Sign in as"
page. A customer's id is the `tenant` its CRM connection is stored under, so every page looks
up only that customer's connection (and so its workspace's markers).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, abort, redirect, render_template, request, session, url_for

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Customer:
    id: str
    name: str


CUSTOMERS = {
    c.id: c
    for c in (
        Customer("cust_northwind", "Northwind Traders"),
        Customer("cust_contoso", "Contoso Ltd"),
    )
}

bp = Blueprint("customers", __name__)


def current() -> Customer | None:
    """The signed-in customer, or None."""
    return CUSTOMERS.get(session.get("customer", ""))


def tenant() -> str:
    """The signed-in customer's id: the tenant its connection is stored under."""
    customer = current()
    if customer is None:
        abort(403, "sign in first")
    return customer.id


def signed_in(view: F) -> F:
    """A view for signed-in customers only; others go to the sign-in page."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current() is None:
            return redirect(url_for("customers.sign_in"))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@bp.get("/")
def home() -> Any:
    return redirect(url_for("integrations.page" if current() else "customers.sign_in"))


@bp.get("/sign-in")
def sign_in() -> str:
    return render_template("sign_in.html", customers=CUSTOMERS.values())


@bp.post("/sign-in")
def sign_in_as() -> Any:
    customer = CUSTOMERS.get(request.form.get("customer", ""))
    if customer is None:
        abort(400, "no such customer")
    session.clear()  # nothing of the previous customer (an OAuth state, say) carries over
    session["customer"] = customer.id
    return redirect(url_for("integrations.page"))


@bp.post("/sign-out")
def sign_out() -> Any:
    session.clear()
    return redirect(url_for("customers.sign_in"))
