"""Build the broker a profile asks for, with the clock that goes with it.

Every runner (the bot loop, one-shot CLI commands, flows) opens its venue here, so the paper
exchange's state file, the replay clock and Coinbase credentials are handled one way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..clock import Clock, OffsetClock, SystemClock, VirtualClock
from ..config.settings import BrokerKind, Settings
from ..errors import ConfigError, DataError
from .base import Broker

REPLAY_RESUME = datetime(1970, 1, 2, tzinfo=UTC)  # "not ahead of any saved replay"


def open_broker(
    settings: Settings,
    *,
    fast_forward: bool = False,
    streaming: bool | None = None,
    readonly: bool = False,
) -> tuple[Broker, Clock]:
    """The profile's broker and the clock to run it with. Bad input is a ConfigError.

    ``streaming`` (Coinbase only): None follows COINBASE_STREAMING (the bot's marks come from
    the WebSocket feed); one-shot commands pass False. ``readonly`` (paper only: Coinbase is
    its own venue): look without owning the paper venue, beside a running bot. Every broker has
    ``close()``."""
    if settings.broker is BrokerKind.COINBASE:
        if fast_forward:
            raise ConfigError("--fast-forward: only on the simulated market (broker paper)")
        return open_coinbase(settings, streaming=streaming)
    return open_paper_broker(settings, fast_forward=fast_forward, readonly=readonly)


def open_coinbase(settings: Settings, *, streaming: bool | None = None) -> tuple[Broker, Clock]:
    """Coinbase Advanced Trade (or the simulator at COINBASE_API_BASE / COINBASE_WS_URL) on the
    wall clock. Missing or malformed credentials are a ConfigError naming the variable."""
    from .coinbase import open_coinbase_broker

    clock = SystemClock()
    return open_coinbase_broker(settings, streaming=streaming, clock=clock), clock


def open_paper_broker(
    settings: Settings, *, fast_forward: bool = False, readonly: bool = False
) -> tuple[Broker, Clock]:
    """The in-process paper exchange saved under the profile's data directory.

    A fresh market starts at SIM_START_TIME when given (reproducible runs), at the first candle
    of a replay, else now. A saved random-walk market catches up to now (prices moved while the
    bot was down); a saved replay resumes at its own cursor, so it is opened with a clock that is
    never ahead of it. Then the runner's clock: virtual (fast-forward) from the market's time, or
    the wall clock shifted to the market's time when that differs (after a fast-forward run, or
    in a replay)."""
    from ..sim.engine import FeeSchedule
    from ..sim.replay import replay_start_time
    from .paper import PaperBroker

    wall = SystemClock()
    fresh = not settings.paper_state_path.exists()
    replay = settings.sim.market_data
    opening_clock: Clock = wall
    try:
        if replay is not None:
            opening_clock = VirtualClock(replay_start_time(replay) if fresh else REPLAY_RESUME)
        elif fresh and settings.sim.start_time is not None:
            opening_clock = VirtualClock(settings.sim.start_time)
        broker = PaperBroker.open(
            settings.paper_state_path,
            symbols=list(settings.symbols),
            scenario=settings.sim.scenario,
            seed=settings.sim.seed,
            clock=opening_clock,
            starting_balances={settings.sim.quote_currency: settings.sim.starting_cash},
            market_data=replay,
            fees=FeeSchedule(maker=settings.sim.maker_fee, taker=settings.sim.taker_fee),
            readonly=readonly,
        )
        market_time = broker.server_time()
    except (DataError, ValueError) as exc:  # a bad candle file or symbol set: bad input
        message = exc.message if isinstance(exc, DataError) else str(exc)
        raise ConfigError(f"sim: {message}") from None
    clock: Clock
    if fast_forward:
        clock = VirtualClock(market_time)
    else:
        offset = market_time - wall.now()
        clock = OffsetClock(offset) if abs(offset) > timedelta(seconds=1) else wall
    broker.clock = clock
    return broker, clock
