"""venue.config: the shipped exchange.toml, prices, and errors that name
the file, the key and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from venue.config import ExchangeConfigError, load_exchange_config

from .support import SHIPPED_EXCHANGE_TOML

SHIPPED = SHIPPED_EXCHANGE_TOML.read_text()

AAPL_BLOCK = '''[[instruments]]
symbol = "AAPL"
tick_size = "0.01"
lot_size = 1
reference_price = "190.00"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exchange.toml"
    path.write_text(text)
    return path


def edited(old: str, new: str) -> str:
    """The shipped file with one edit (which must apply)."""
    assert old in SHIPPED, old
    return SHIPPED.replace(old, new, 1)


def error_of(tmp_path: Path, text: str) -> str:
    """The message of the ExchangeConfigError loading ``text`` raises; it must name
    the file."""
    path = write(tmp_path, text)
    with pytest.raises(ExchangeConfigError) as info:
        load_exchange_config(path)
    message = str(info.value)
    assert str(path) in message
    return message


# -- the shipped file -----------------------------------------------------------------------


def test_shipped_config_has_five_instruments() -> None:
    cfg = load_exchange_config(SHIPPED_EXCHANGE_TOML)
    assert sorted(cfg.instruments) == ["AAPL", "INTC", "JPM", "MSFT", "XOM"]


def test_shipped_config_has_two_broker_firms_with_their_comp_ids() -> None:
    cfg = load_exchange_config(SHIPPED_EXCHANGE_TOML)
    assert {name: f.comp_ids for name, f in cfg.firms.items()} == {
        "BROKER1": ("BRK1",), "BROKER2": ("BRK2",)}


def test_shipped_config_default_accounts_belong_to_their_firms() -> None:
    cfg = load_exchange_config(SHIPPED_EXCHANGE_TOML)
    assert {name: (f.default_account, f.default_account in f.accounts)
            for name, f in cfg.firms.items()} == {
        "BROKER1": ("BRK1-MAIN", True), "BROKER2": ("BRK2-MAIN", True)}


def test_shipped_config_has_drop_copy_dc1_seeing_every_firm() -> None:
    cfg = load_exchange_config(SHIPPED_EXCHANGE_TOML)
    dc = cfg.dropcopy["DC1"]
    assert (list(cfg.dropcopy), dc.sees("BROKER1"), dc.sees("BROKER2")) == (["DC1"], True, True)


def test_shipped_config_journal_is_durable() -> None:
    assert load_exchange_config(SHIPPED_EXCHANGE_TOML).fsync is True


def test_shipped_config_does_not_busy_poll() -> None:
    assert load_exchange_config(SHIPPED_EXCHANGE_TOML).busy_poll_us == 0


def test_busy_poll_us_is_read_in_microseconds(tmp_path: Path) -> None:
    path = write(tmp_path, edited("busy_poll_us = 0", "busy_poll_us = 250"))
    assert load_exchange_config(path).busy_poll_us == 250


@pytest.mark.parametrize("value", ["-1", "0.5", '"fast"'])
def test_a_busy_poll_us_that_is_not_a_whole_number_of_at_least_0_is_refused(
        tmp_path: Path, value: str) -> None:
    assert "busy_poll_us" in error_of(tmp_path, edited("busy_poll_us = 0",
                                                        f"busy_poll_us = {value}"))


def test_firm_of_comp_id_finds_the_owning_firm() -> None:
    cfg = load_exchange_config(SHIPPED_EXCHANGE_TOML)
    firm = cfg.firm_of_comp_id("BRK2")
    assert (firm.name if firm else None, cfg.firm_of_comp_id("NOPE")) == ("BROKER2", None)


def test_config_remembers_its_source_file() -> None:
    assert load_exchange_config(SHIPPED_EXCHANGE_TOML).source == str(SHIPPED_EXCHANGE_TOML)


# -- prices -------------------------------------------------------------------------------------


def test_price_strings_become_integers_with_four_decimals() -> None:
    cfg = load_exchange_config(SHIPPED_EXCHANGE_TOML)
    got = {s: (i.tick_size, i.reference_price) for s, i in cfg.instruments.items()}
    assert got == {"AAPL": (100, 1_900_000), "MSFT": (100, 4_200_000),
                   "INTC": (100, 225_000), "JPM": (100, 2_400_000), "XOM": (100, 1_150_000)}


def test_prices_are_ints_not_floats_or_decimals() -> None:
    inst = load_exchange_config(SHIPPED_EXCHANGE_TOML).instruments["INTC"]
    assert (type(inst.tick_size), type(inst.reference_price)) == (int, int)


def test_price_with_exactly_four_decimals_is_accepted(tmp_path: Path) -> None:
    text = edited('tick_size = "0.01"\nlot_size = 1\nreference_price = "190.00"',
                  'tick_size = "0.0001"\nlot_size = 1\nreference_price = "190.1234"')
    assert load_exchange_config(write(tmp_path, text)).instruments["AAPL"].reference_price \
        == 1_901_234


def test_float_price_is_refused_naming_the_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('reference_price = "190.00"', "reference_price = 190.0"))
    assert "AAPL" in message and "reference_price" in message


def test_price_with_more_than_four_decimals_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('tick_size = "0.01"', 'tick_size = "0.00001"'))
    assert "tick_size" in message and "more than 4 decimals" in message


def test_price_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('reference_price = "190.00"',
                                        'reference_price = "19O.00"'))
    assert "reference_price" in message and "19O.00" in message


def test_reference_price_off_the_tick_grid_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('reference_price = "190.00"',
                                        'reference_price = "190.005"'))
    assert "AAPL" in message and "reference_price" in message and "tick" in message


def test_zero_tick_size_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('tick_size = "0.01"', 'tick_size = "0"'))
    assert "tick_size" in message


def test_missing_fsync_defaults_to_durable(tmp_path: Path) -> None:
    text = edited("fsync = true", "")
    assert load_exchange_config(write(tmp_path, text)).fsync is True


def test_fsync_false_is_read(tmp_path: Path) -> None:
    text = edited("fsync = true", "fsync = false")
    assert load_exchange_config(write(tmp_path, text)).fsync is False


# -- errors ------------------------------------------------------------------------------------


def test_unknown_instrument_key_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('sector = "Energy"', 'sector = "Energy"\ncolour = "red"'))
    assert "instrument XOM" in message and "colour" in message


def test_unknown_exchange_key_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited("fsync = true", "fsync = true\nfsnyc = false"))
    assert "[exchange]" in message and "fsnyc" in message


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, SHIPPED + '\n[market]\nopen = "09:30"\n')
    assert "market" in message


def test_unknown_firm_key_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('name = "BROKER2"', 'name = "BROKER2"\nlimit = 5'))
    assert "firm BROKER2" in message and "limit" in message


def test_wrong_type_of_lot_size_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited("lot_size = 100", 'lot_size = "100"'))
    assert "XOM" in message and "lot_size" in message and "wrong type" in message


def test_boolean_lot_size_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited("lot_size = 100", "lot_size = true"))
    assert "lot_size" in message and "wrong type" in message


def test_wrong_type_of_fsync_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited("fsync = true", 'fsync = "yes"'))
    assert "fsync" in message and "wrong type" in message


def test_accounts_that_are_not_a_list_are_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('accounts = ["BRK2-MAIN"]', 'accounts = "BRK2-MAIN"'))
    assert "BROKER2" in message and "accounts" in message


def test_missing_symbol_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('symbol = "MSFT"\n', ""))
    assert "instruments[1]" in message and "symbol" in message


def test_duplicate_symbol_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, SHIPPED + "\n" + AAPL_BLOCK)
    assert "AAPL" in message and "twice" in message


def test_comp_id_owned_by_two_firms_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('comp_ids = ["BRK2"]', 'comp_ids = ["BRK2", "BRK1"]'))
    assert "BRK1" in message and "BROKER1" in message and "BROKER2" in message


def test_account_in_two_firms_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('accounts = ["BRK2-MAIN"]',
                                        'accounts = ["BRK2-MAIN", "BRK1-PROP"]'))
    assert "BRK1-PROP" in message and "BROKER1" in message and "BROKER2" in message


def test_default_account_not_among_the_accounts_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('default_account = "BRK2-MAIN"',
                                        'default_account = "BRK1-MAIN"'))
    assert "BROKER2" in message and "default_account" in message and "BRK1-MAIN" in message


def test_empty_account_list_is_refused(tmp_path: Path) -> None:
    text = edited('accounts = ["BRK2-MAIN"]\ndefault_account = "BRK2-MAIN"', "accounts = []")
    message = error_of(tmp_path, text)
    assert "BROKER2" in message and "accounts" in message


def test_dropcopy_naming_an_unknown_firm_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('firms = ["*"]', 'firms = ["BROKER3"]'))
    assert "dropcopy[0]" in message and "BROKER3" in message


def test_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ExchangeConfigError, match="absent.toml"):
        load_exchange_config(path)


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    error_of(tmp_path, SHIPPED + "\nthis is not toml\n")


# -- bugs ------------------------------------------------------------------------------------


def test_non_finite_price_is_refused_naming_the_key(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('reference_price = "190.00"',
                                        'reference_price = "Infinity"'))
    assert "reference_price" in message


def test_negative_reference_price_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('reference_price = "190.00"',
                                        'reference_price = "-190.00"'))
    assert "reference_price" in message


def test_section_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, 'instruments = 5\n')
    assert "instruments" in message


def test_duplicate_firm_name_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('name = "BROKER2"', 'name = "BROKER1"'))
    assert "BROKER1" in message


def test_duplicate_dropcopy_comp_id_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, SHIPPED + '\n[[dropcopy]]\ncomp_id = "DC1"\n'
                                           'firms = ["BROKER1"]\n')
    assert "DC1" in message


@pytest.mark.parametrize("key", ["price_band_pct", "fat_finger_pct"])
@pytest.mark.parametrize("value", [-1, 101])
def test_instrument_percentage_outside_0_to_100_is_refused(tmp_path: Path, key: str,
                                                           value: int) -> None:
    message = error_of(tmp_path, edited('price_band_pct = 10\n', f'{key} = {value}\n'))
    assert "AAPL" in message and key in message and "0..100" in message


def test_market_protection_outside_0_to_100_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited("market_protection_pct = 5", "market_protection_pct = -5"))
    assert "market_protection_pct" in message and "0..100" in message


def test_instrument_max_order_qty_must_be_positive(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited("max_order_qty = 100000", "max_order_qty = 0"))
    assert "max_order_qty must be positive" in message


# -- risk: [risk], firm and account limits, starting balances ------------------------------


def test_shipped_accounts_start_with_their_configured_cash_and_positions() -> None:
    risk = load_exchange_config(SHIPPED_EXCHANGE_TOML).risk_config()
    main = risk.accounts["BRK1-MAIN"]
    assert (main.cash, main.positions["AAPL"]) == (50_000_000_0000, 100_000)


def test_account_without_a_table_starts_with_no_cash_and_no_positions(tmp_path: Path) -> None:
    text = edited('accounts = ["BRK2-MAIN"]', 'accounts = ["BRK2-MAIN", "BRK2-NEW"]')
    new = load_exchange_config(write(tmp_path, text)).risk_config().accounts["BRK2-NEW"]
    assert (new.cash, new.positions) == (0, {})


def test_limits_resolve_account_then_firm_then_risk_table(tmp_path: Path) -> None:
    text = edited("[risk]\n", "[risk]\nmax_order_qty = 7\nmax_short = 8\nfee_bps = 2\n")
    text = text.replace('name = "BROKER2"\n', 'name = "BROKER2"\nmax_order_qty = 70\n', 1)
    text = text.replace('name = "BRK2-MAIN"\n', 'name = "BRK2-MAIN"\nmax_short = 800\n', 1)
    from risk.checks import RiskEngine
    risk = RiskEngine(load_exchange_config(write(tmp_path, text)).risk_config())
    brk2, brk1 = risk.limits("BRK2-MAIN"), risk.limits("BRK1-MAIN")
    assert (brk2.max_order_qty, brk2.max_short, brk2.fee_bps) == (70, 800, 1)  # BROKER2: 1
    assert (brk1.max_order_qty, brk1.max_short, brk1.fee_bps) == (7, 8, 2)


def test_unlimited_overrides_an_inherited_limit(tmp_path: Path) -> None:
    from risk.config import NO_LIMIT
    text = edited('name = "BRK1-MAIN"\n', 'name = "BRK1-MAIN"\nmax_open_orders = "unlimited"\n')
    from risk.checks import RiskEngine
    risk = RiskEngine(load_exchange_config(write(tmp_path, text)).risk_config())
    assert (risk.limits("BRK1-MAIN").max_open_orders,
            risk.limits("BRK2-MAIN").max_open_orders) == (NO_LIMIT, 10_000)


@pytest.mark.parametrize(("line", "expected"), [
    ('max_order_value = 5.5', "max_order_value must be a decimal string"),
    ('max_order_value = "1.00001"', "more than 4 decimals"),
    ('max_long = -1', "max_long must be a whole number >= 0"),
    ('max_long = "lots"', "max_long must be a whole number >= 0"),
    ('margin_pct = 150', "margin_pct is a percentage"),
    ('allow_short = "yes"', "allow_short must be true or false"),
    ('max_orders = 5', "unknown key 'max_orders'"),
])
def test_bad_limit_value_names_the_key(tmp_path: Path, line: str, expected: str) -> None:
    message = error_of(tmp_path, edited('name = "BRK1-MAIN"\n', f'name = "BRK1-MAIN"\n{line}\n'))
    assert expected in message and "BRK1-MAIN" in message


def test_account_table_for_an_account_of_no_firm_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('name = "BRK1-MAIN"\ncash', 'name = "NOBODY"\ncash'))
    assert "NOBODY" in message and "not an account of any firm" in message


def test_position_in_an_unknown_instrument_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited("positions = { AAPL = 100000,",
                                        "positions = { NOPE = 1, AAPL = 100000,"))
    assert "unknown instrument 'NOPE'" in message


def test_cash_as_a_float_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited('cash = "50000000.00"', "cash = 50000000.0"))
    assert "cash" in message


def test_max_messages_per_second_must_be_positive(tmp_path: Path) -> None:
    message = error_of(tmp_path, edited("max_messages_per_second = 1000",
                                        "max_messages_per_second = 0"))
    assert "max_messages_per_second must be positive" in message


@pytest.mark.parametrize(("value", "expected"), [
    ('["cancel_both"]', "self_trade_prevention has the wrong type"),
    ('"cancel_all"', "self_trade_prevention must be one of"),
])
def test_bad_account_self_trade_prevention_is_refused(tmp_path: Path, value: str,
                                                      expected: str) -> None:
    message = error_of(tmp_path, edited('name = "BRK1-MAIN"\n',
                                        f'name = "BRK1-MAIN"\nself_trade_prevention = {value}\n'))
    assert expected in message and "BRK1-MAIN" in message


def test_account_self_trade_prevention_overrides_its_firms(tmp_path: Path) -> None:
    text = edited('name = "BROKER1"\n', 'name = "BROKER1"\nself_trade_prevention = "cancel_both"\n')
    text = text.replace('name = "BRK1-MAIN"\n',
                        'name = "BRK1-MAIN"\nself_trade_prevention = "cancel_resting"\n', 1)
    accounts = load_exchange_config(write(tmp_path, text)).risk_config().accounts
    assert (accounts["BRK1-MAIN"].self_trade_prevention,
            accounts["BRK1-PROP"].self_trade_prevention,
            accounts["BRK2-MAIN"].self_trade_prevention) == (1, 3, 0)


# -- the binary feed ---------------------------------------------------------------------

FEED = '\n[marketdata.multicast]\ngroup = "239.255.0.1"\nport = 31001\n'


def test_shipped_config_has_no_binary_feed() -> None:
    assert load_exchange_config(SHIPPED_EXCHANGE_TOML).multicast is None


def test_a_feed_takes_its_defaults_around_the_group_and_port(tmp_path: Path) -> None:
    mc = load_exchange_config(write(tmp_path, SHIPPED_EXCHANGE_TOML.read_text() + FEED)
                              ).multicast
    assert mc is not None
    assert (mc.group, mc.port, mc.interface, mc.ttl, mc.retransmission_port, mc.retain,
            mc.snapshot_port) == ("239.255.0.1", 31001, "127.0.0.1", 0, 31002, 100_000, 31003)


@pytest.mark.parametrize(("change", "error"), [
    (('"239.255.0.1"', '"10.0.0.1"'), "is not a multicast address"),
    (('"239.255.0.1"', '"nowhere"'), "is not an IPv4 address"),
    (("port = 31001", "port = 70000"), "port must be 1 to 65535"),
    (("port = 31001", "port = 31001\nttl = 300"), "ttl must be 0 to 255"),
    (("port = 31001", "port = 31001\nsnapshot_port = 0"), "snapshot_port must be 1 to 65535"),
    (("port = 31001", "port = 31001\nloop = true"), "unknown key 'loop'"),
])
def test_a_bad_feed_is_refused_naming_the_key(tmp_path: Path, change: tuple[str, str],
                                              error: str) -> None:
    text = SHIPPED_EXCHANGE_TOML.read_text() + FEED.replace(*change)
    assert error in error_of(tmp_path, text)


def test_the_history_database_is_off_without_a_dsn() -> None:
    assert load_exchange_config(SHIPPED_EXCHANGE_TOML).postgres.dsn == ""


def test_postgres_dsn_and_retention_are_read(tmp_path: Path) -> None:
    text = SHIPPED + '\n[postgres]\ndsn = "postgresql://db/x"\nretention_days = 30\n'
    pg = load_exchange_config(write(tmp_path, text)).postgres
    assert (pg.dsn, pg.retention_days) == ("postgresql://db/x", 30)


def test_fixserver_pg_dsn_overrides_the_files_dsn(tmp_path: Path) -> None:
    text = SHIPPED + '\n[postgres]\ndsn = "postgresql://db/x"\n'
    pg = load_exchange_config(write(tmp_path, text)).postgres
    assert pg.with_environment({"FIXSERVER_PG_DSN": "postgresql://other/y"}).dsn == \
        "postgresql://other/y"
    assert pg.with_environment({}).dsn == "postgresql://db/x"


def test_unknown_postgres_key_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, SHIPPED + '\n[postgres]\nhost = "db"\n')
    assert "[postgres]: unknown key 'host'" in message


def test_a_retention_of_zero_days_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, SHIPPED + "\n[postgres]\nretention_days = 0\n")
    assert "[postgres]" in message and "retention_days" in message
