"""Alembic environment: migrations run on the URL the service itself is configured with.

Migrations are frozen: they carry their own table definitions and never import app.models,
so an old revision still runs after the models move on.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from app.kit.secrets import database_url as credentials_url
from app.kit.settings import load_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    # An explicit sqlalchemy.url (tests, the migrate function) wins over the environment.
    explicit = config.get_main_option("sqlalchemy.url")
    return explicit or credentials_url(load_settings())


def run_offline() -> None:
    context.configure(url=database_url(), literal_binds=True, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
