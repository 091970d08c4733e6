"""Staff accounts (agents, supervisors, KB admins) and their sessions: log in, log out, revoke.

Accounts live in ``cs_user`` (seed §5.1) with ``user_type`` 1 (staff) or 2 (admin), a login name unique per
tenant, a scrypt password hash, roles and skill groups. A logout revokes the token's ``jti`` until the
token would have expired anyway (``cs_token_revocation``): every service checks it, so a token copied
before the logout is refused everywhere.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from bot.audit import audit
from bot.errors import Conflict, InvalidInput, NotFound
from bot.ids import new_id
from bot.security import AuthError, Principal, check_password, hash_password
from bot.storage.db import Database
from bot.storage.models import TokenRevocation, User
from bot.tenants import check_tenant

STAFF_ROLES = ("agent", "supervisor", "kb_admin", "admin")
MIN_PASSWORD = 8


@dataclass(frozen=True)
class StaffUser:
    user_id: int
    tenant_id: str
    login: str
    name: str
    roles: frozenset[str]
    skills: tuple[str, ...]
    active: bool

    def principal(self) -> Principal:
        return Principal(self.user_id, self.tenant_id, self.roles, self.name)


def _staff(u: User) -> StaffUser:
    roles = frozenset(r for r in (u.roles or "").split(",") if r)
    skills = tuple(s for s in (u.skills or "").split(",") if s)
    return StaffUser(u.user_id, u.tenant_id, u.external_id or "", u.nick_name, roles, skills, u.status == 1)


class UserService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, tenant_id: str, login: str, name: str, roles: set[str], password: str,
               skills: tuple[str, ...] = ()) -> StaffUser:  # fmt: skip
        check_tenant(tenant_id)
        login = login.strip()
        if not login or len(login) > 64 or not login.isprintable() or "," in login:
            raise InvalidInput("login must be 1-64 printable characters")
        bad = set(roles) - set(STAFF_ROLES)
        if not roles or bad:
            raise InvalidInput(f"roles must be some of {', '.join(STAFF_ROLES)}")
        if len(password) < MIN_PASSWORD:
            raise InvalidInput(f"password must have at least {MIN_PASSWORD} characters")
        user = User(user_id=new_id(), tenant_id=tenant_id, nick_name=(name or login)[:64], external_id=login,
                    user_type=User.ADMIN if "admin" in roles else User.AGENT, status=1,
                    password_hash=hash_password(password), roles=",".join(sorted(roles)),
                    skills=",".join(skills) or None)  # fmt: skip
        try:
            with self.db.session() as s:
                s.add(user)
                s.flush()
                audit(s, tenant_id, "user.create", "user", str(user.user_id), {"login": login, "roles": sorted(roles)})
        except IntegrityError:
            raise Conflict(f"login {login!r} exists in tenant {tenant_id}") from None
        return _staff(user)

    def get(self, tenant_id: str, user_id: int) -> StaffUser:
        with self.db.session() as s:
            u = s.scalar(select(User).where(User.tenant_id == tenant_id, User.user_id == user_id,
                                            User.user_type != User.CUSTOMER))  # fmt: skip
            if u is None:
                raise NotFound(f"no staff user {user_id}")
            return _staff(u)

    def list(self, tenant_id: str) -> list[StaffUser]:
        with self.db.session() as s:
            staff = select(User).where(User.tenant_id == check_tenant(tenant_id), User.user_type != User.CUSTOMER)
            rows = s.scalars(staff.order_by(User.external_id))
            return [_staff(u) for u in rows]

    def authenticate(self, tenant_id: str, login: str, password: str) -> StaffUser:
        """The account, or AuthError with the same words whether the login or the password was wrong."""
        with self.db.session() as s:
            u = s.scalar(select(User).where(User.tenant_id == tenant_id, User.external_id == login,
                                            User.user_type != User.CUSTOMER))  # fmt: skip
        # hash even for an unknown login, so the answer takes as long either way
        ok = check_password(password, u.password_hash if u and u.password_hash else _DUMMY_HASH)
        if u is None or not ok or u.status != 1:
            raise AuthError("wrong login or password")
        return _staff(u)

    def revoke(self, who: Principal) -> None:
        if not who.token_id:
            return
        with self.db.session() as s:
            s.merge(TokenRevocation(jti=who.token_id[:64], tenant_id=who.tenant_id, user_id=who.user_id,
                                    expires_at=who.expires_at))  # fmt: skip
            # revocations of tokens that have expired anyway are of no more use
            s.execute(delete(TokenRevocation).where(TokenRevocation.expires_at < time.time() - 60))

    def is_revoked(self, jti: str) -> bool:
        with self.db.session() as s:
            return s.get(TokenRevocation, jti[:64]) is not None


_DUMMY_HASH = hash_password("not a real password " + dt.datetime.now().isoformat())
