"""One test per pre-trade check, at its boundary: at the limit passes, one beyond fails."""

from __future__ import annotations

from matching.commands import NewOrder
from matching.constants import BUY, MARKET
from risk import checks as K
from risk.config import NO_LIMIT, Limits
from tests.risk.kit import ACME, BETA, GAMMA, RICH, Desk, accepted_oid, config, rejection

P = 100_000   # 10.00, ACME's reference price


def desk(limits: Limits | None = None, cash: int = RICH, positions: dict | None = None,
         **inst_kw) -> Desk:
    accounts = {"A": {"cash": cash, "positions": positions or {}, "limits": limits or Limits()},
                "B": {"positions": {ACME: 10_000, BETA: 10_000, GAMMA: 10_000},
                      "limits": Limits(allow_short=True)}}
    return Desk(config(accounts, **inst_kw))


def test_max_order_qty_of_account_boundary():
    d = desk(Limits(max_order_qty=500))
    assert rejection(d.buy("A", 500, P)) is None
    code, text = rejection(d.buy("A", 501, P))
    assert code == K.MAX_ORDER_QTY and "501" in text and "500" in text


def test_max_order_qty_of_instrument_boundary():
    d = desk(max_order_qty=300)
    assert rejection(d.buy("A", 300, P)) is None
    code, text = rejection(d.buy("A", 301, P))
    assert code == K.MAX_ORDER_QTY and "instrument ACME" in text and "300" in text


def test_collar_upper_boundary_from_reference_price():
    d = desk()
    assert rejection(d.buy("A", 1, 110_000)) is None          # 10.00 + 10%
    code, text = rejection(d.buy("A", 1, 110_100))
    assert code == K.PRICE_COLLAR and "11.01" in text and "9..11" in text


def test_collar_lower_boundary_from_reference_price():
    d = desk()
    assert rejection(d.sell("B", 1, 90_000)) is None
    code, _ = rejection(d.sell("B", 1, 89_900))
    assert code == K.PRICE_COLLAR


def test_collar_moves_to_the_last_trade_price():
    d = desk()
    d.sell("B", 1, 105_000)
    d.buy("A", 1, 105_000)                                    # last trade 10.50
    assert rejection(d.buy("A", 1, 115_500)) is None          # 10.50 + 1.05
    assert rejection(d.buy("A", 1, 115_600))[0] == K.PRICE_COLLAR


def test_fat_finger_buy_through_the_ask():
    d = desk(collar_bps=5000)
    d.sell("B", 10, P)                                        # ask 10.00, +5% = 10.50
    assert rejection(d.buy("A", 1, 105_000)) is None
    code, text = rejection(d.buy("A", 1, 105_100))
    assert code == K.FAT_FINGER and "10.51" in text and "10.5 " in text


def test_fat_finger_sell_through_the_bid():
    d = desk(collar_bps=5000)
    d.buy("A", 10, P)                                         # bid 10.00, -5% = 9.50
    assert rejection(d.sell("B", 1, 95_000)) is None
    assert rejection(d.sell("B", 1, 94_900))[0] == K.FAT_FINGER


def test_max_order_value_boundary():
    d = desk(Limits(max_order_value=100 * P))                 # 1000.00
    assert rejection(d.buy("A", 100, P)) is None
    code, text = rejection(d.buy("A", 101, P))
    assert code == K.MAX_ORDER_VALUE and "1010" in text and "1000" in text


def test_max_orders_per_day_boundary_and_new_day():
    d = desk(Limits(max_orders_per_day=2))
    d.buy("A", 1, P)
    assert rejection(d.buy("A", 1, P)) is None
    assert rejection(d.buy("A", 1, P))[0] == K.MAX_ORDERS_PER_DAY
    d.risk.new_day()
    assert rejection(d.buy("A", 1, P)) is None


def test_max_open_orders_boundary_and_cancel_frees_a_slot():
    d = desk(Limits(max_open_orders=2))
    first = accepted_oid(d.buy("A", 1, P))
    assert rejection(d.buy("A", 1, P)) is None
    code, text = rejection(d.buy("A", 1, P))
    assert code == K.MAX_OPEN_ORDERS and "2" in text
    d.cancel(first)
    assert rejection(d.buy("A", 1, P)) is None


def test_sell_needs_the_position_without_short_selling():
    d = desk(positions={ACME: 100})
    assert rejection(d.sell("A", 60, P)) is None
    assert rejection(d.sell("A", 40, P)) is None              # open sells count
    code, text = rejection(d.sell("A", 1, P))
    assert code == K.SHORT_SELLING and "available position 0" in text


def test_max_short_position_boundary():
    d = desk(Limits(allow_short=True, max_short=100))
    assert rejection(d.sell("A", 100, P)) is None
    code, text = rejection(d.sell("A", 1, P))
    assert code == K.MAX_SHORT_POSITION and "101" in text and "100" in text


def test_max_long_position_boundary_counts_open_buys():
    d = desk(Limits(max_long=150), positions={ACME: 50})
    assert rejection(d.buy("A", 60, P)) is None
    assert rejection(d.buy("A", 40, P)) is None
    code, text = rejection(d.buy("A", 1, P))
    assert code == K.MAX_LONG_POSITION and "151" in text and "150" in text


def test_concentration_boundary():
    # GAMMA exposure 100 x 5.00 = 500; an ACME buy of 50 x 10.00 = 500 is 50% of 1000.
    d = desk(Limits(max_concentration_pct=50), positions={GAMMA: 100})
    assert rejection(d.buy("A", 50, P)) is None
    code, text = rejection(d.buy("A", 1, P))
    assert code == K.CONCENTRATION and "50%" in text


def test_concentration_not_checked_below_the_floor():
    d = desk(Limits(max_concentration_pct=50, concentration_floor=10 * P))
    assert rejection(d.buy("A", 10, P)) is None               # gross 100.00 = floor
    assert rejection(d.buy("A", 1, P))[0] == K.CONCENTRATION


def test_sector_exposure_boundary():
    # Tech: ACME and BETA. 10 BETA x 20.00 = 200.00; limit 300.00 leaves 10 ACME.
    d = desk(Limits(sector_limit=30 * P), positions={BETA: 10})
    assert rejection(d.buy("A", 10, P)) is None
    code, text = rejection(d.buy("A", 1, P))
    assert code == K.SECTOR_EXPOSURE and "Tech" in text and "310" in text
    assert rejection(d.buy("A", 1, 50_000, symbol=GAMMA)) is None   # another sector


def test_buying_power_boundary():
    d = desk(cash=100 * P)
    assert rejection(d.buy("A", 60, P)) is None
    assert rejection(d.buy("A", 40, P)) is None               # exactly all the cash
    code, text = rejection(d.buy("A", 1, P))
    assert code == K.BUYING_POWER and "needs 10" in text and "has 0" in text


def test_margin_pct_lets_cash_cover_part_of_a_buy():
    d = desk(Limits(margin_pct=50), cash=50 * P)
    assert rejection(d.buy("A", 100, P)) is None              # needs 500.00 of 1000.00
    assert rejection(d.buy("A", 2, P))[0] == K.BUYING_POWER   # 1 more = 5.00 > 0


def test_fees_are_part_of_a_buys_reservation():
    d = desk(Limits(fee_bps=100), cash=101 * P)               # 1000.00 + 1% fee = 1010.00
    assert rejection(d.buy("A", 100, P)) is None
    assert rejection(d.buy("A", 1, P))[0] == K.BUYING_POWER


def test_short_sale_needs_short_margin():
    d = desk(Limits(allow_short=True, short_margin_pct=50), cash=50 * P)
    assert rejection(d.sell("A", 100, P)) is None             # 50% of 1000.00 = 500.00
    d2 = desk(Limits(allow_short=True, short_margin_pct=50), cash=50 * P - 1)
    assert rejection(d2.sell("A", 100, P))[0] == K.BUYING_POWER


def test_unknown_account_is_refused():
    d = desk()
    code, text = rejection(d.buy("NOPE", 1, P))
    assert code == K.UNKNOWN_ACCOUNT and "NOPE" in text


def test_market_buy_reserves_at_the_protection_price():
    d = desk()
    d.sell("B", 10, P)                                        # ask 10.00: protection 10.50
    d.run(NewOrder(symbol=ACME, side=BUY, order_qty=5, ord_type=MARKET, account="A"))
    # filled 5 at 10.00: nothing reserved after, cash paid at the trade price
    assert d.reserved("A") == 0 and d.cash("A") == RICH - 5 * P


def test_market_buy_buying_power_uses_the_protection_price():
    d = desk(cash=10 * 105_000)                               # 10 x 10.50
    d.sell("B", 10, P)
    ok = d.run(NewOrder(symbol=ACME, side=BUY, order_qty=10, ord_type=MARKET, account="A"))
    assert rejection(ok) is None
    d2 = desk(cash=10 * 105_000 - 1)
    d2.sell("B", 10, P)
    bad = d2.run(NewOrder(symbol=ACME, side=BUY, order_qty=10, ord_type=MARKET, account="A"))
    assert rejection(bad)[0] == K.BUYING_POWER


def test_replace_up_is_checked_against_buying_power():
    d = desk(cash=100 * P)
    oid = accepted_oid(d.buy("A", 50, P))
    assert rejection(d.replace(oid, 100, P)) is None          # the whole cash
    assert rejection(d.replace(oid, 101, P))[0] == K.BUYING_POWER


def test_replace_down_passes_even_outside_limits():
    d = desk(Limits(max_order_qty=100))
    oid = accepted_oid(d.buy("A", 100, P))
    assert rejection(d.replace(oid, 50, P)) is None


def test_replace_to_a_new_price_is_collared():
    d = desk()
    oid = accepted_oid(d.buy("A", 10, P))
    assert rejection(d.replace(oid, 10, 110_100))[0] == K.PRICE_COLLAR


def test_defaults_are_documented_values():
    d = desk()
    lim = d.risk.limits("A")
    assert (lim.allow_short, lim.margin_pct, lim.max_long, lim.max_concentration_pct,
            lim.fee_bps) == (False, 100, NO_LIMIT, 100, 0)


def test_firm_limits_apply_to_accounts_without_their_own():
    cfg = config({"A": {"cash": RICH, "firm": "G"},
                  "C": {"cash": RICH, "firm": "G", "limits": Limits(max_order_qty=20)}},
                 firms={"G": Limits(max_order_qty=10)})
    d = Desk(cfg)
    assert rejection(d.buy("A", 11, P))[0] == K.MAX_ORDER_QTY
    assert rejection(d.buy("C", 20, P)) is None


def test_every_code_maps_to_a_fix_ord_rej_reason():
    codes = [v for k, v in vars(K).items() if k.isupper() and isinstance(v, str)
             and k == v]
    assert codes and all(c in K.ORD_REJ_REASON for c in codes)


def test_refused_order_leaves_no_open_order_or_reservation():
    d = desk(cash=P)
    d.buy("A", 11, P // 10)
    assert d.risk.account("A").open_orders == 0 and d.reserved("A") == 0


def test_config_from_the_exchange_toml_uses_its_instrument_limits():
    from venue.config import load_exchange_config
    cfg = load_exchange_config("exchange.toml").risk_config()
    aapl = cfg.instruments["AAPL"]
    assert (aapl.collar_bps, aapl.fat_finger_bps, aapl.max_order_qty, aapl.sector) == (
        1000, 500, 100_000, "Technology")
    assert cfg.accounts["BRK1-MAIN"].firm == "BROKER1" and cfg.market_protection_bps == 500


def test_instrument_without_risk_parameters_is_refused_until_added():
    from matching.commands import AddInstrument
    from risk.config import InstrumentRisk
    d = desk()
    d.run(AddInstrument(symbol="NEW", tick_size=100, reference_price=P))
    code, text = rejection(d.buy("A", 1, P, symbol="NEW"))
    assert code == K.UNKNOWN_INSTRUMENT and "NEW" in text
    d.risk.add_instrument(InstrumentRisk("NEW", P, "Tech", 100))
    assert rejection(d.buy("A", 1, P, symbol="NEW")) is None


def test_replace_of_a_sell_up_needs_the_position():
    d = desk(positions={ACME: 100})
    oid = accepted_oid(d.sell("A", 60, P))
    assert rejection(d.replace(oid, 100, P)) is None
    assert rejection(d.replace(oid, 101, P))[0] == K.SHORT_SELLING


def test_stop_buy_replaced_to_a_higher_stop_reserves_at_the_new_stop():
    from matching.commands import Replace
    from matching.constants import STOP
    d = desk()
    oid = accepted_oid(d.buy("A", 10, 0, ord_type=STOP, stop_px=110_000))
    before = d.reserved("A")                         # 10 x (11.00 + 5%) = 115.50
    assert rejection(d.run(Replace(order_id=oid, order_qty=10, price=0, stop_px=120_000))) is None
    assert (before, d.reserved("A")) == (10 * 115_500, 10 * 126_000)


def test_stop_buy_replace_to_a_higher_stop_needs_the_buying_power():
    from matching.commands import Replace
    from matching.constants import STOP
    d = desk(cash=10 * 115_500)                      # exactly the first reservation
    oid = accepted_oid(d.buy("A", 10, 0, ord_type=STOP, stop_px=110_000))
    code, _text = rejection(d.run(Replace(order_id=oid, order_qty=10, price=0, stop_px=120_000)))
    assert code == K.BUYING_POWER and d.reserved("A") == 10 * 115_500


def test_collar_of_zero_turns_the_collar_off():
    d = desk(collar_bps=0)
    assert rejection(d.buy("A", 1, 500_000)) is None            # 50.00, five times the ref


def test_fat_finger_of_zero_turns_the_check_off():
    d = desk(fat_finger_bps=0)
    d.sell("B", 10, P)
    assert rejection(d.buy("A", 1, 109_000)) is None            # 9% through the ask
