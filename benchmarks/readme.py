"""``benchmarks/README.md``: how to run, the method, then one run's machine and tables.

The file is regenerated whole by every run that writes it (``python -m benchmarks``, not
``--quick`` or ``--smoke`` unless ``--readme`` is given), so edit this template, not the
Markdown.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

from . import report
from .targets import Results, verdicts

SUMMARY_START = "<!-- BENCHMARKS"
SUMMARY_END = "<!-- /BENCHMARKS -->"

_HEAD = """\
# Benchmarks

`sudo_stream` side by side with the raw transport, httpx-sse, openai-python and sudo-ai,
over real HTTP on loopback, measured by `python -m benchmarks` (or `nox -s bench`).
The targets are those of `shared/docs/design.md` section 4, checked as ratios measured in
the same run, so the machine's speed cancels out.

## Running

```
python -m benchmarks                 # the default run, ~13 minutes on 2 cores; rewrites this file
python -m benchmarks --full          # + sudo-ai in the concurrency part, openai-python in
                                     #   the bulk part, a traced run, more rounds, and the
                                     #   batch part (~30 minutes); rewrites this file
python -m benchmarks --quick         # smaller streams, fewer rounds: ~1 minute smoke run
python -m benchmarks --smoke         # tiny sizes: checks that every part works, ~30 s
python -m benchmarks --parts throughput,latency --backends trio --clients raw,sudo_stream
python -m benchmarks --tracemalloc 200   # also a traced run of 200 concurrent streams
python -m benchmarks --parts bulk        # only the bulk part (~2-3 minutes)
python -m benchmarks --parts batch       # only the batch part (~5 minutes; opt-in)
python -m benchmarks --parts batch --readme  # the same, rewriting only its section here
python -m benchmarks --parts structured  # only the structured-output part (under a minute; opt-in)
python -m benchmarks --parts structured --readme  # the same, rewriting only its section here
python -m benchmarks --parts responses   # only the Responses-stream part (under a minute; opt-in)
python -m benchmarks --parts responses --readme  # the same, rewriting only its section here
python -m benchmarks --parts otel        # only the OpenTelemetry part (about a minute; opt-in)
python -m benchmarks --parts otel --readme  # the same, rewriting only its section here
python -m benchmarks --json out.json     # keep the raw results
nox -s bench                         # the same in a fresh venv with the `bench` extras
python benchmarks/bench_sse.py       # the in-memory micro-benchmarks alone
python benchmarks/bench_core.py
python -m benchmarks.bench_structured
python -m benchmarks.bench_responses
python -m benchmarks.bench_otel
```

Parts (`--parts`): `imports`, `sse`, `core`, `throughput`, `latency`, `concurrency`,
`bulk` (`--bulk-streams 100,500` sets its sizes), and `batch`, which is opt-in: only
`--parts batch` (or a list naming it) and `--full` run it (`--batch-lines 10000,1000000`,
`--batch-requests 3000`, `--batch-window 10` set its sizes; see [Batch runs](#batch-runs)),
and `structured`, `responses` and `otel`, opt-in the same way (see [Structured
outputs](#structured-outputs), [Responses API streams](#responses-api-streams) and
[OpenTelemetry](#opentelemetry)).
`nox -s bench -- --parts batch` runs one in the bench venv.
A run of selected parts, loops or clients, `--quick` and `--smoke` only print (add
`--readme` to write this file anyway). The exit status is 0 whether targets are met or
not (it is a measurement), 2 if a part could not run. The test suite never imports this
package (pytest collects `tests/` only).

## Method

- **Server** (`server.py`): a separate process on 127.0.0.1 (plain asyncio, raw sockets)
  that builds every response once (status line, headers, and the body chunk-encoded with
  *one HTTP chunk per SSE event*, as the reference figures used) and writes it with
  `sock_sendall` in 256 KiB slices. `POST /v1/chat/completions` answers the stream named
  by the `x-bench-stream` header (the body is ignored); connections are kept alive. The
  `latency` stream sends its first event, pauses, then the rest; `small/N` sends its
  first event and holds the rest until N requests for it have arrived; `GET /stats`
  counts connections. It exits after a fixed
  lifetime or as soon as the runner's pipe to it closes. On 2+ cores the server runs
  pinned to the last CPU and every measuring process to CPU 0.
- **Streams** (`workloads.py`, bytes from `bench_core.py`): `content` is OpenAI-shaped
  ~245-byte content chunks (role chunk, text chunks, finish chunk, usage chunk, then
  `[DONE]`); `tool` is one tool call whose JSON arguments arrive in ~12-byte fragments;
  `small` (200 chunks) is used by the concurrency part.
- **Clients** (`clients.py`), each as its users would call it, retries off, no read
  timeout, a pool of 2,000 connections: raw httpx `aiter_raw()` (bytes counted and
  dropped: httpx's own limit); httpx-sse `aiter_sse()` + `json.loads`;
  openai-python `chat.completions.create(stream=True)` iterated, and its accumulating
  `chat.completions.stream()` helper (events, then `get_final_completion()`; the tool is
  passed non-strict, so the helper does not re-parse partial arguments); sudo-ai
  `router.create_streaming_async` iterated; sudo_stream `create_streaming` iterated
  (typed chunks), with `final_completion()`, and with `events()`. Every client checks
  what it got (chunks, bytes, or the assembled text and arguments) against the stream.
- **Rounds** (`measure.py`): the clients take turns round by round (so drift in load hits
  them alike); each gets up to 11 rounds, but once it has its minimum (two) it stops when
  the next round would take it past a time budget, so the slow clients get fewer rounds.
  Tables show the median and the spread (min-max) over the rounds and
  how many there were; `--full` gives every client at least three. Ratios and targets
  compare each client's *best* round (as `timeit` does): on a shared machine other load
  only ever adds time, and here it varies a round by up to 50% (raw httpx's own drain
  ranged 8.3-12 µs a chunk in one run), so the minimum is the steadiest estimate of what
  the code itself costs.
- **Concurrency**: each client in a fresh process per round, the clients taking turns
  round by round (three to five rounds; memory is compared by its median, as the growth
  of a client that leaves garbage depends on when the collector runs: one sample of
  openai-python's ranged 68-91 KiB a stream on trio): after one warm-up stream, 1,000 streams of 200
  chunks start at once in one task group. The server sends each its first event and
  then *holds* it until all 1,000 requests have arrived, so every client really has
  1,000 streams open at once (without the hold, httpcore's pool convoys a burst of
  requests onto whichever connection is idle: raw httpx and openai-python served the
  1,000 "concurrent" streams over ~12 connections). Wall time, the growth of peak RSS
  over the RSS before the run (the kernel's peak mark is reset first) per stream, and
  the connections the server accepted during the run and held open at most.
  `--tracemalloc N` adds a traced run of N streams (tracemalloc slows pure-Python
  clients several times, so only `--full` does it). sudo-ai takes ~90 s here and has no
  target in this part, so only `--full` runs it.
- **Bulk**: as the concurrency part (a fresh process per client and round, clients taking
  turns, one warm-up stream), but the server sends every `small` stream *whole* as soon
  as its request arrives, and 100, then 500 streams start at once: many sockets are
  readable at the same time and streams end as fast as they are read, as in a batch of
  fast answers (the concurrency part's hold hides this case). Wall time against raw
  httpx (target: at most raw's, best rounds), the process's CPU time, and the
  connections the server accepted (raw httpx's pool, allowed 2,000 as every client here,
  convoys the burst onto a dozen or two: a 1,000-connection pool runs the same).
  openai-python runs here only with `--full` (no target).
- **CPU time**: the throughput tables also give the client process's CPU time per chunk
  (`time.process_time`), which, unlike wall time, does not grow when another process
  competes for the core.
- **Time to first chunk**: from the call to the first chunk object, on a warm
  keep-alive connection, against a server that sends one chunk, pauses 20 ms, then the
  rest (every client reads to the end, so connections are reused). Rounds rotate the
  order of the clients; in each, a client reads three streams in a row and the last one
  counts (the first after another client pays for that one's state). "Added" is the
  median of the per-round differences from raw httpx's first `aiter_raw()` piece, and
  the difference of the minimums.
- **Import time**: `import X` timed inside a fresh interpreter (start-up not counted),
  median of several.
- **Event loops**: asyncio and trio. sudo-ai runs on asyncio only (its retry loop calls
  `asyncio.sleep`); openai-python supports trio through anyio. openai-python 3.x runs on
  `httpx2`/`httpcore2` (its own transport stack), the others on `httpx`/`httpcore`.
"""

BATCH_START = "<!-- BATCH-RUN -->"
BATCH_END = "<!-- /BATCH-RUN -->"

_BATCH = """\
## Batch runs

`sudo_stream.batch.run` (issue 15), measured by `python -m benchmarks --parts batch`
(about 5 minutes: opt-in, so the default run stays as long as it was; `--full` includes
it). Three measures, each side by side in the same run, the targets as ratios and shares:

- **Overhead** (`batch.py`, on each event loop): one JSONL file of 3,000 non-streamed chat
  completions (OpenAI Batch input format, `max_completion_tokens` 16), 64 in flight,
  against the benchmark server above, which answers each with the same pre-built JSON
  completion (~300 bytes, with its usage): no server time, so what is left is each
  client's own cost per request. Three clients, each round opening its own client as a
  batch script does, rounds alternating, the best round compared (as elsewhere here):
  `batch.run` (the input checked whole first, the output as its journal, the limiter in
  the path, no rpm/tpm given); a **hand-written anyio task group** with the same
  `AsyncSudo` and concurrency (read a line, take a slot, a task calls `create()` and
  writes the answer as a line; lean on purpose: no input check, no resume, msgspec for
  the JSON); and the **cookbook approach**, our own small reimplementation (`cookbook.py`,
  not its code) of the approach of OpenAI's `api_request_parallel_processor.py`: asyncio
  and one aiohttp session, a main loop that takes a retry or the next line, refills a
  request and a token capacity by the time elapsed, starts the request as a task when
  both have room and otherwise sleeps 1 ms, a retry queue, each result appended to the
  file (opened each time). It runs on asyncio only; its limits are set far above what
  it can send here, so that it, too, runs unthrottled. Every output is checked: each id
  once, no error. Target: `batch.run` at least 0.9x the task group's requests/s.
- **Rate limits**: `sudo_stream.testing.FakeSudoServer` with a `RateLimit(rpm, tpm,
  window)` in a process of its own (`limited_server.py`, pinned to the other core), and
  `batch.run` given the same limit, per minute: the server's per-window limit times
  `60 / window`. The window is **10 s** (`--batch-window`), not 60, to keep the run
  short: `batch.run` holds a per-minute limit over any 60 s and, pro rata, over any 10 s
  (it paces a run), so against a 10-s window the server's limit is exactly its
  10-second pace (a window of 20, 30 or 60 s works the same; one of 15 s would not).
  Two scenarios, each letting 300 requests through a window: one where the requests
  limit binds (tokens to spare) and one where the tokens limit does (each request costs
  the fake server's answer, 14 tokens; `batch.run` reserves its estimate, ~30, and
  settles to the usage of the answer). The run is stopped after three whole windows
  (~32 s a scenario, the input never runs out); the server's log gives what it admitted
  in each whole window from the first request on, the requests it refused with a 429,
  and the most requests and tokens sent in any sliding window (refused ones included:
  what the client sent). Targets: at least 95% of the binding limit used per window,
  fewer than 1% of requests answered 429, never more sent in a window than the limit.
- **Memory**: peak RSS (the kernel's `VmHWM`, reset before the run) of a fresh process
  running `batch.run` over 10,000 and over 100,000 input lines (64 in flight, the same
  fast server), growth over the RSS before the run, after a 200-line warm-up run in the
  same process. 100,000 rather than 1,000,000 lines: a batch request costs this client
  ~1 ms of CPU here (the benchmark server answers at once), so 1M lines would take
  15-25 minutes on this 2-core machine, shared with other work;
  `--batch-lines 10000,1000000` runs it.
  Target: the larger input's growth within 4 MiB of the smaller's.

What the recorded run below says (the source it names; the machine was shared, so wall
times vary by up to 2x between rounds, and the best rounds are compared):

- **Rate limits: 429s at the start of each window.** `batch.run`'s limiter ages each
  request from the moment it *reserved* it, the server from the moment the request
  *arrived*. A burst (a window's opening, 64 requests at once) reaches the server over
  tens of milliseconds, so one window later, when the limiter frees those slots all at
  once, the replacements can arrive less than a window after the requests they replace:
  the server refuses them (every 429 in these runs came in the first two seconds of a
  window), and each 429 pauses the whole run, which costs that window some of its share.
  In scratch runs (not kept) where the limiter aged each request from when its answer
  came back (by then the server has surely counted it), neither scenario had a 429; the
  requests-bound one used 100% of each window, the tokens-bound one 79-99% (its first
  window varies with the start-up, 64 connections opened at once, here too: 85% below,
  99-100% in other runs).
- **Overhead**: `batch.run` spends ~250-350 µs more CPU a request than the task group
  (~1.0 ms). Measured parts of it: reading and checking each line twice (the check
  before sending, then the send pass: ~27 + ~22 µs a line), six `x-ratelimit-*` header
  lookups and the request id on every answer (each a scan of httpx's headers, ~50 µs a
  request under cProfile), and about one worker-thread hop a request to append the
  output (2,003 `to_thread` calls for 3,000 requests), besides the limiter's lock and
  its own retry wrapper. Against a real server, whose answers take seconds, none of this
  shows; against this one, which answers at once, it is the whole difference.
- **Memory**: growth 2.8 MiB at 10,000 lines, 6.1 MiB at 100,000: within the target,
  but not flat; where the 3.3 MiB go (SQLite's page cache, 2 MiB at most by default, is
  one candidate) was not traced, and whether 1M lines stays within it was not run.
"""


_BATCH_NOTES = """\
### Batch runs: the overhead across runs

Runs on this shared 2-core machine vary as much as the 0.9x target's margin. In order:
0.76x / 0.73x (asyncio / trio) of the hand-written task group's requests/s as first
written; 1.02x / 0.82x with appends on the loop and no lock for an idle limiter; 0.85x /
0.87x on a loaded machine, then 1.03x / 0.92x on a quiet one, with each answer appended
by its own task (the code of the run recorded above). By CPU, `batch.run` costs about
what the lean loop costs, up to ~70 µs a request more on trio (~900 µs). What it does that
the loop does not: it checks the whole input before sending (a second parse of every
line, ~16-30 µs), indexes the ids (SQLite), appends each answer with one `write` of its
own as soon as it is in hand (the loop's buffered file would lose its buffer to a
`kill -9`), builds a full Batch output record around the body as it came (~4 µs), and
goes through the limiter (~3 µs) and the rate-limit headers (~3 µs). A single parse of
the input is the next step if it ever matters.

### Batch runs: memory at a million lines

The part's memory measure defaults to 10k and 100k lines (a million takes ~25 minutes
here). Measured once by hand the same way (a fresh process each, peak RSS after a
200-line warm-up; `--batch-lines 10000,1000000` runs it in the part), against
`python -m sudo_stream.testing` in a process of its own, on 2026-12-03:

| input lines | input MB | wall s | requests/s | peak RSS growth, MiB |
| ---: | ---: | ---: | ---: | ---: |
| 10,000 | 1.9 | 12 | 833 | 1.27 |
| 1,000,000 | 195.8 | 1,474 | 678 | 4.21 |

Flat: +2.9 MiB from 10k to 1M lines (SQLite's page cache of the scratch index, 2 MiB at
most, is most of it; it is full by 100k lines).

### Ray scale-out (`benchmarks/bench_batch_ray.py`)

`python -m benchmarks.bench_batch_ray` (the `ray` extra; not in the default run): 3,000
requests against a server that answers each after 0.5 s (as a model would, so the
requests in flight set the throughput), on this 2-core machine shared by the server, the
driver and the actors. Ray 2.60, local mode. One run on 2026-12-03:

| run | steady prompts/s | wall prompts/s (start-up included) |
| --- | ---: | ---: |
| `batch.run`, 64 in flight | 127 | 124 |
| `batch.run`, 128 in flight | 253 | 240 |
| `batch.ray`, 1 actor x 64 | 125 | 109 |
| `batch.ray`, 2 actors x 64 | 190 | 150 |

`ray.init` alone takes ~5.3 s, and each actor a few seconds more. On one machine Ray is
never faster than one process with as many requests in flight: it pays off only when one
machine's CPU or sockets are the limit.
"""

STRUCTURED_START = "<!-- STRUCTURED-RUN -->"
STRUCTURED_END = "<!-- /STRUCTURED-RUN -->"

_STRUCTURED = """\
## Structured outputs

Typed structured outputs and streamed partial objects (issue 16), measured by
`python -m benchmarks --parts structured` (`bench_structured.py`; in memory, under a
minute; opt-in like the batch part, and in `--full`). One realistic answer, an order: a
customer with an address, a list of line items (each with a literal, an enum, an
optional float and a list of tags), optional notes; written once as `msgspec.Struct`
types and once as the equivalent pydantic models, made from a fixed seed at several
sizes (line items), as compact JSON, the way a model writes a strict structured output.
Every side is checked first to get the same object from the same bytes.

- **Parsing** (target: at least 5x openai-python's `parse()`). `parse`: a non-streamed
  completion's body bytes (OpenAI's shape, usage and all) to a completion whose
  `choices[0].message.parsed` is typed. Ours: `msgspec.json.decode(body,
  type=ParsedChatCompletion[Any])`, then `structured.parse_choices(completion, Order)`,
  exactly what `router.parse` does after its HTTP layer. openai-python's: exactly what
  `chat.completions.parse()` does after its HTTP layer, `json.loads` of the body (its
  `response.json()`), `construct_type(ChatCompletion)` (its default, non-strict response
  processing), then `parse_chat_completion` (the post-parser `parse()` installs:
  `model_validate_json` of the content, and the `ParsedChatCompletion` built around it).
  `call`: the public calls themselves, `router.parse(response_format=Order)` and
  `chat.completions.parse(response_format=OrderModel)`, each over an in-memory
  `MockTransport` answering the same bytes (httpx for us, httpx2 for openai-python 3),
  async, asyncio, retries off: what both add on top is building the request (the strict
  JSON schema from the type, the JSON body) and their HTTP layers.
- **Partial objects per chunk** (target: at least 10x instructor's). The answer's JSON
  text cut as a model streams it, 1-7 characters a delta (4 on average), the deltas
  already taken out of the chunks on both sides. Ours: `PartialObjects(Order)`, `feed`
  then `snapshot()` on every delta, then `finish()` (the typed object, validated once).
  instructor's: `Partial[OrderModel].model_from_chunks(deltas)`, the per-chunk loop
  behind its partial streaming (`create_partial`): on every delta it appends it to the
  text so far, parses the whole text with jiter in partial mode (and again, twice, to
  find which parts are complete), builds the partial model, validates the items that are
  complete, then validates the whole at the end. Per chunk: the whole stream's best
  round divided by its deltas. instructor's cost per chunk grows with the answer (it
  re-reads the text so far), so the ratio is given at two sizes.
- **Linear** (target: doubling the answer at most doubles the total time). Ours alone,
  whole streams of N, 2N and 4N line items (the answer of 2N holds the N items of the
  smaller one and N more like them, so its text is 2x as long but for the fixed head),
  with a snapshot after every delta and, to see where a growing cost comes from,
  without; the six take turns round by round, each round timing one whole stream; the
  ratio of each size's best round to the half-size's. The best of 14 rounds: on this
  shared machine a round varies by up to ~30%, the minimum (other load only ever adds
  time) is steady to a few percent; a linear cost gives ratios just under 2.0.
- **Over plain streaming**: the same answer as an SSE body (OpenAI-shaped chunks, one
  content delta each) through what plain iteration does in memory (`SSEParser`, chunk
  decoding, `StreamAssembler.absorb`), then the same with `feed` + `snapshot()` on every
  content delta: what partial objects add per chunk, for comparison with the streaming
  tables above (no target).
"""

_STRUCTURED_NOTES = """\
### Structured outputs: what the recorded run says

On a shared machine (load ~1.2 on 2 cores; medians up to 1.7x the best rounds), the best
rounds compared:

- **Parsing: 18-22x openai-python** on the same bytes (32 against 683 µs at 20 line
  items, 227 against 4,169 µs at 200). Where openai-python's time goes: the body through
  `json.loads`, `construct_type` of the `ChatCompletion`, then `parse_chat_completion`
  turns the choices back into dicts (`to_dict()`) and builds the `ParsedChatCompletion`
  again around `model_validate_json`'s object; ours is one msgspec decode of the body
  and one of the content.
- **The public calls: 7.8-7.9x** (`router.parse()` 0.71 and 0.95 ms against 5.6 and 7.5
  ms, both over mock transports). The first recorded run measured 2.4-3.0x: the strict
  JSON schema was rebuilt from the type on every call (~1.1-1.4 ms of `router.parse()`'s
  1.5-2.0 ms). It is now derived once per type; openai-python still rebuilds its own
  (`type_to_response_format_param`, ~2.2 ms) on every call.
- **Partial objects: 39x instructor per chunk at 20 line items (6.3 against 246 µs),
  104x at 50 (4.2 against 440 µs)**: instructor re-reads the whole text so far on every
  delta (three jiter parses: partial, strict to test completeness, partial again), walks
  it to mark the complete paths, and rebuilds the partial model, validating every
  complete item again, so its cost per chunk grows with the answer.
- **Linear: the parse is (1.92x and 1.99x per doubling); a snapshot per chunk is not
  quite (2.09x and 2.16x), a deliberate miss.** Feeding costs a flat ~1.65 µs a chunk at
  100, 200 and 400 line items. `snapshot()` hands out an independent object: what is
  complete is shared, but each container still open is copied (one C-level `copy()`),
  and here the `items` list stays open for the whole answer, so every snapshot copies a
  list of every item so far: ~1.9, 2.1 and 2.4 µs a chunk at those sizes. Linear
  snapshots would need the previous snapshot's list to grow in place, so that an
  earlier snapshot changes under its holder (a UI that compares the last snapshot with
  the new one would see no change in that list); we keep snapshots independent and pay
  a copy of a few hundred pointers. No text is ever re-read.
- **Over plain streaming**: `partial_objects()`'s path costs ~4.5 µs a chunk more than
  `events()`, which it reads (in memory, 100 line items; chunk iteration 1.6 µs,
  `events()` 1.9 µs, with partial objects 6.3 µs a chunk); against a model that sends a
  token every few milliseconds, a fraction of a percent of a core.
"""

RESPONSES_START = "<!-- RESPONSES-RUN -->"
RESPONSES_END = "<!-- /RESPONSES-RUN -->"

_RESPONSES = """\
## Responses API streams

A streamed `POST /v1/responses` (issue 17) side by side with openai-python, measured by
`python -m benchmarks --parts responses` (`bench_responses.py`; in memory, under a
minute; opt-in like the structured part, and in `--full`). Targets: our typed events at
least 10x faster than openai-python's `responses.create(stream=True)` iteration, our
assembled response at least 20x faster than its `responses.stream()` helper.

- **The stream**: one response as OpenAI sends it (`event:` + `data:` lines,
  `sequence_number` from 0, an `obfuscation` pad on every delta, no `[DONE]`), built with
  `sudo_stream.testing.response_events`: `response.created`, `response.in_progress`, a
  reasoning item whose two summary parts stream a word a delta (100 words each), a
  message of 4,000 words streamed a word a delta (the bulk of the stream), a function
  call whose ~600 characters of JSON arguments stream in 8-character fragments, the
  `.done` events, then `response.completed` with the whole response and its usage:
  ~4,300 events of ~250 bytes, ~1 MiB, cut into 64 KiB pieces as a socket delivers them.
  Every side is checked first to give the same text, summaries, arguments, usage and
  event count from the same bytes.
- **In memory** (`memory`), the per-event path, synchronous, no I/O. Ours:
  `SSEParser.feed` + `decode_response_event` per event (the typed events), and the same
  + `ResponseAssembler.add` per event, then `close()` (the final response, checked
  against `response.completed`'s): what iterating a `ResponseStream` does per event (it
  assembles as it goes) and what `final_response()` costs. openai-python's: exactly what
  its `Stream`/`AsyncStream` does per event for `responses.create(stream=True)`
  (`SSEDecoder.iter_bytes`, `sse.json()`, its `error` check, `construct_type` of the
  `ResponseStreamEvent` union: its default, non-strict processing), and the same +
  `ResponseStreamState.handle_event` per event (the accumulator behind
  `responses.stream()`: the snapshot built from the deltas, the semantic events carrying
  the text so far, `parse_response` of the completed response), then the final response
  it keeps.
- **The public calls** (`call`), async on one asyncio loop, each client over an
  in-memory `MockTransport` (httpx for us, httpx2 for openai-python 3) answering the same
  64 KiB pieces as a streamed body, retries off: building and sending the request, the
  client's HTTP and stream layers, then the per-event work above. Ours: `async with
  sudo.responses.create_streaming(...) as stream`, its events iterated; and the same
  stream's `final_response()` alone (`ResponseStream` assembles while it is iterated, so
  the two do the same work). openai-python's: `await client.responses.create(...,
  stream=True)`, its events iterated; and `async with client.responses.stream(...)`, its
  events iterated, then `get_final_response()`.
- **Rounds**: the four implementations of a measure take turns in each round (so drift
  in load hits them alike), one whole stream a round each; ratios compare best rounds.
"""

OTEL_START = "<!-- OTEL-RUN -->"
OTEL_END = "<!-- /OTEL-RUN -->"

_OTEL = """\
## OpenTelemetry

What `sudo_stream.otel.OpenTelemetryHooks` (issue 18) adds to a call, measured by
`python -m benchmarks --parts otel` (`bench_otel.py`; in memory, about a minute; opt-in
like the structured part, and in `--full`). No target: the issue asks for the number.

- **The calls**: `create()` (a chat completion with usage) and a stream of 50 content
  chunks with usage read with `final_completion()`, each client over an in-memory
  `httpx.MockTransport`, so that the time is the client's alone.
- **The hooks**: none; an empty `ss.Hooks()` (the hook machinery alone);
  `OpenTelemetryHooks()` on the API's no-ops (no SDK configured); `OpenTelemetryHooks` on
  an SDK: a `TracerProvider` whose `SimpleSpanProcessor` exports each span at its end to
  an `InMemorySpanExporter`, a `MeterProvider` with an `InMemoryMetricReader` (the work a
  real exporter's batching processor starts from, without its I/O). Each round checks
  that this one made a span per call.
- **Rounds**: the configurations take turns in each round (so drift in load hits them
  alike), 300 calls a round each; the added cost is a best round's less no hooks' best.
"""

_OTEL_NOTES = """\
### OpenTelemetry: what the recorded run says

On a shared machine (load ~1.3-1.5 on 2 cores, other work running: medians up to 1.5x
the best rounds, spreads up to 3x), the best rounds compared:

- **With an SDK, ~190-250 µs a call** (`create()`: +187 µs on asyncio, +252 µs on trio,
  over ~375-475 µs of the client's own work against a mock transport). The hooks alone,
  timed in a loop without I/O (a scratch measurement, not kept), cost ~280 µs a call with
  the SDK and ~40 µs without. Where it goes (cProfile of that loop): the SDK's four
  histogram records (duration, time to first chunk, input and output tokens), each
  cleaning its attributes and matching them against the views, about half of it;
  starting the span and cleaning its attributes and events, most of the rest; the hooks'
  own work (the attributes, the request body read for its parameters, `traceparent`)
  under a tenth. Against a real call (hundreds of milliseconds to seconds) this is well
  under 0.1%.
- **Without an SDK, ~50-70 µs a call** (+49 µs, +71 µs): the API's no-op span, the
  propagator finding no valid context to send, the attribute dicts built anyway.
- **Per chunk: nothing.** The hooks run per call and once at the first chunk; the stream
  rows differ by less than their noise (-142 to +307 µs on ~2 ms streams whose rounds
  spread 1.5-3x), as the empty `ss.Hooks()` row shows with no work at all.
"""

_RESPONSES_NOTES = """\
### Responses API streams: what the recorded run says

On a shared machine (load ~1.2 on 2 cores; medians up to 1.5x the best rounds), the best
rounds compared:

- **Every target met, by 2-6x its margin**: typed events 63x openai-python's `Stream`
  per event in memory, 39x its `responses.create(stream=True)` iteration through the
  public calls; the assembled response 79x its `responses.stream()` accumulator in
  memory, 70x the helper through the public calls. `final_response()` and iteration do
  the same work (the stream assembles as it is iterated): their difference in the table
  is this machine's noise (interleaved 30 times each in a scratch run, their best
  rounds were 17.3 and 17.8 ms).
- **Where openai-python's time goes** (cProfile of the helper's path, a 1,000-word
  stream): `construct_type` is 85% of it. For a union such as `ResponseStreamEvent` it
  first validates the value with pydantic (`validate_python`, 29%), then builds the
  model walking every field's annotation in Python (`get_origin`, `isinstance`, literal
  checks). The helper `build()`s a second, semantic event for every text and arguments
  delta (with the text so far as its `snapshot`): another `construct_type` per delta
  (49% of the helper's time), which is why it costs nearly twice the iteration.
- **Ours: the SSE parser had two thirds of it, now a third.** Every Responses block is an
  `event:` line and a `data:` line; the parser's fast lane took only one-line `data:`
  blocks, so these went line by line in Python (2.2-2.4 µs an event in memory). A lane
  for the two-line shape (two `find`s a block, the same events as byte-by-byte parsing,
  tested) takes 1.1 µs; then `decode_response_event` 0.6-0.8 µs and
  `ResponseAssembler.add` 0.5 µs an event.
- **The stream layer** (`ResponseStream._next_event`, `__anext__`, `_decode`, over a
  mock transport, the request included) adds ~1.3 µs an event to the in-memory path;
  msgspec's own decode is 4% of the iteration's time.
"""

_LOG = """\
## Profiling log: what was tried

Per-chunk costs below are CPU time over loopback (median of 9 or min of 15-24
alternating rounds of raw and ours, one process pinned per core) or in memory over a bare
async generator of the same pieces (`ChatStream` fed directly: our cost alone, no
transport). Raw httpx's `aiter_raw()` drain (h11 and httpcore, one HTTP chunk per event)
costs ~8.3 µs a chunk here; that is what the 1.3x target divides by.

Kept:

- **Our own HTTP/1.1 body reading** (`sudo_stream/_framing.py`, `_h1.py`). Profiling the
  tool stream, the one target still at its limit, showed where the transport's time
  goes: h11 turns every HTTP chunk into an event through its state machine, 5.3 µs a
  chunk in memory (20,000 chunks of the tool stream fed in 64 KiB pieces), and httpcore
  adds three async generators and a context manager per chunk. Our connections still
  send requests and read response heads with h11, then frame the body with a sans-IO
  decoder: a socket read of chunks becomes one piece of body bytes (~1.3 µs a chunk in
  memory: one find, one regular expression, one slice), which the SSE parser splits in
  one pass. Whole stream over loopback, µs a chunk (raw httpx drain 8.4): content
  10.3 -> 2.8, tool 10.8 -> 3.3; 1.25x -> 0.33x and 1.31x -> 0.39x the raw drain.
- **Our own connection pool**. In httpcore's pool, 1,000 concurrent streams took 20 s:
  each time a request starts or ends it scans every connection for every idle one
  (`len([c.is_idle() for c in connections])` per idle connection). `ConnectionPool` keeps
  idle connections per origin, most recent first, the oldest checked for expiry, and
  opens a new one when none is free: O(1) per request. The same scan is why raw httpx
  and openai-python take ~25 s for 1,000 truly concurrent streams (table above).
- **Our own sockets, read only when the reading task runs** (`sudo_stream/_socket.py`).
  With 1,000 streams held open, then all released at once, peak RSS grew 85 KiB a stream
  on asyncio and 46 on trio, against ~23 KiB while they waited: while a task waits for
  data, asyncio's transport reads all that arrives before the task runs (anyio then
  hands it out in pieces; here the stream's whole 50 KB rest), and trio's sockets read,
  then yield to the scheduler with the bytes in hand, so every stream held a read
  waiting for its turn.
  A read now yields first, then takes at most 16 KiB without waiting (waiting for the
  socket only when there is nothing); what a task has not read stays in the kernel,
  under TCP flow control. 85 -> 30 KiB (asyncio), 46 -> 29 KiB (trio); 1,000 streams'
  wall time 1.7 -> 1.2 s; single-stream throughput unchanged (one yield per 16 KiB).
- **Streamed text kept as one string per 32 deltas** (the assembler's `_Text`), not one
  per delta: a 4-character delta is a 53-byte string object, so 200 of them were 10 KiB
  a stream, the largest single cost at the end of a stream. 30 -> 23 KiB a stream.
- **16 KiB body reads** (64 KiB before): with 1,000 streams open at once, what each has
  read but not yet consumed dominates its memory; trio, tracemalloc peak 74 -> 43 KiB a
  stream (8 KiB reads: 37). A stream also lets go of consumed events and of its last
  piece before it waits for the next. Cost: ~0.1 µs a chunk.
- **One event per network piece goes from bytes to a chunk with no event object**
  (`SSEParser.feed_plain` returns the payload bytes after four C-level scans; msgspec
  decodes bytes directly; invalid UTF-8 or bad JSON fall back to the general path, which
  names the problem). With reading `response.stream` instead of `aiter_raw()` (one
  generator less): 1.45x -> 1.35x the raw drain on the content stream, 1.53x -> 1.42x on
  the tool stream.
- **`ServerSentEvent` is a msgspec struct** (built in C, not traced by the GC): the parser
  alone, one event per piece, 0.85 -> 0.71 µs an event (2.8x -> 3.5x httpx-sse).
- **The stream's deadline is bound to its connection**, not set in a `ContextVar` around
  every body read: set + reset cost 0.19 µs a chunk. With the read inlined in the pull
  loop (one coroutine frame less, 0.14 µs): our in-memory cost 2.37 -> 1.87 µs a chunk
  (content), 2.93 -> 2.41 µs (tool).
- **Chunk fields in wire order** (msgspec matches keys faster in field order): -0.05 µs.
- **A tool-call fragment that only adds arguments is appended at once** (no lookups):
  tool, in memory, 2.41 -> 2.30 µs.
- **Our own httpx transport on httpcore's public API**, whose responses expose httpcore's
  body iterator (httpx's two wrapping generators only map errors and time the response):
  content 1.28x -> 1.26x, tool 1.33x -> 1.30-1.32x (min of 24 rounds).
- **`PartialJSON.value()` copies scalar-only containers with one C-level `copy()`** (the
  parser records which containers hold containers): `partial_arguments()` on every
  fragment of a 5,000-item list, 190 -> 9.5 µs a chunk (`bench_core`, add+partial).
- **Idle connections answer `is_readable` from their OS socket**: httpcore asks it of
  every idle connection whenever the pool assigns one, and anyio answered by building a
  dict of all the socket's attributes: 8% of the CPU time with 1,000 connections.

Tried and dropped:

- Folding `__anext__` and the pull loop into one coroutine: -0.07 µs a chunk, not worth
  a second copy of the loop.
- `b"\\r" not in data` instead of `data.find(b"\\r") < 0` in the fast lane: slower.
- Decoding into a smaller struct (only what assembly needs): 1.09 µs against 1.21 µs for
  the full chunk; msgspec's JSON scan is the floor, and a typed chunk is what users get.
- Disabling the garbage collector: no change (wire structs are `gc=False`).
- An async-generator pull loop for chunk iteration (the hot path inline in the generator,
  `__aiter__` handing it out): 0.05-0.17 µs a chunk saved in memory, far less than a bare
  generator's floor suggested, because the checks a stream needs between chunks (queued
  events, lookahead, end, close) stay; not worth generator finalization on abandoned
  streams (trio warns when an unexhausted async generator is collected).

Where the floor is, before our own body reading (in memory, µs a chunk over a bare
generator; content / tool): the pull loop 1.93 / 2.38; the same work with no bookkeeping
in one coroutine frame, 1.60 / 2.02; in an async generator, 1.51 / 1.91. Of a tool
chunk's cost, decoding is 1.2 µs (nested structs for one 12-byte fragment), the fast lane
0.3 µs and assembly 0.3 µs. Against h11 and httpcore's ~8.3 µs that put the tool stream
at 1.26-1.37x the raw drain; the transport was the floor, so the transport is what
changed.

Memory with 1,000 streams truly open at once, after the two changes above: while all
are held open and waiting, tracemalloc counts ~20 KiB a stream (7 KiB our stream and
connection, 4.5 KiB httpx's request and response, the rest the event loop's socket
registration, task and cancel scopes); RSS adds ~3 KiB of allocator overhead. Reading
adds at most one 16 KiB read in flight for the whole process, and the text assembled so
far. openai-python's far larger growth (76-97 KiB) is mostly the bytes its transports
read ahead and the garbage its per-chunk objects leave while it reads. Tried before the
own sockets: 4 KiB reads, and asyncio transports reading at most 4 KiB at a time: 42 / 36
KiB a stream (asyncio / trio) at 1.6x the wall time; not kept.

Bulk, streams sent whole at once (issue 14 reported 4.0 s against raw's 2.2 s for 500
streams, 0.78 against 0.50 s for 100, on asyncio): not reproduced here. Against the
benchmark server, a plain asyncio-streams server (100-connection backlog, one write per
answer), the server writing one HTTP chunk per write, the fake server, the server sharing
the client's core, `localhost` instead of 127.0.0.1, and Python 3.13, sudo_stream took
0.2-0.55x raw httpx's wall time and 0.25-0.35x its CPU time at 100 and 500 streams. Where
our time goes (pyinstrument, 500 streams; asyncio and trio alike): the chunks (body
framing, SSE, decoding, assembly) 46%; opening each stream 40%, of it httpx's request
building and sending 14%, h11 writing the request and reading the head 8%, connecting
6% (socket, connect, a wait for writability, `TCP_NODELAY`); the socket reads 2.3%
(strace, 500 streams: 2,003 `recvfrom` and 1,014 `epoll_ctl`, so four 16 KiB reads and
one wait a stream, with its reader registration); the garbage collector 4-15%. 64 KiB
reads made no difference beyond the noise. Raw httpx's time goes to its pool: it queues
the burst onto ~12 connections and checks each idle one for readability whenever it
assigns a request (14,682 `poll` + `getpeername` calls for 500 streams). Kept: name
lookups shared by the connections opened together (`_socket._Lookups`): a burst to a
host name made one `getaddrinfo` in a worker thread per connection (500 of `localhost`:
0.23 s on trio, 0.10 s on asyncio; against a real DNS server, 500 queries); trio, 500
streams to `localhost`, client CPU 1.53 -> 1.34 s.
"""


def render(results: dict[str, Any], command: str, previous: str = "") -> str:
    """The whole README for one run; the batch part's recorded run is this run's if it
    ran the batch part, else the one in ``previous`` (the README so far)."""
    info = results["machine"]
    when = time.strftime("%Y-%m-%d", time.gmtime(results.get("finished", time.time())))
    lines = [
        _HEAD,
        "## Results",
        "",
        f"One run on {when}: `{command}` ({results['seconds'] / 60:.1f} minutes).",
        "",
        "### Machine",
        "",
        report.machine(info),
        "",
        "![throughput per client](throughput.png)",
        "",
        report.tables(results, group="streaming"),
        "",
    ]
    notes = _notes(results)
    if notes:
        lines += ["### Notes", "", notes, ""]
    lines += _opt_in_sections(results, command, previous)
    lines.append(_LOG)
    return "\n".join(lines)


_OPT_IN = {
    # part: (section head, start mark, end mark, notes, the versions its run names)
    "batch": (
        _BATCH,
        BATCH_START,
        BATCH_END,
        _BATCH_NOTES,
        ("sudo-stream", "httpx", "anyio", "aiohttp"),
    ),
    "structured": (
        _STRUCTURED,
        STRUCTURED_START,
        STRUCTURED_END,
        _STRUCTURED_NOTES,
        ("sudo-stream", "msgspec", "openai", "httpx2", "pydantic", "instructor", "jiter"),
    ),
    "responses": (
        _RESPONSES,
        RESPONSES_START,
        RESPONSES_END,
        _RESPONSES_NOTES,
        ("sudo-stream", "msgspec", "openai", "httpx", "httpx2", "pydantic"),
    ),
    "otel": (
        _OTEL,
        OTEL_START,
        OTEL_END,
        _OTEL_NOTES,
        ("sudo-stream", "httpx", "anyio", "opentelemetry-api", "opentelemetry-sdk"),
    ),
}


def _opt_in_sections(results: dict[str, Any], command: str, previous: str) -> list[str]:
    """The sections of the opt-in parts: this run's results for a part it ran, else the
    recorded run in ``previous`` (the README so far), then the part's notes."""
    lines: list[str] = []
    for part, (head, start, end, notes, _) in _OPT_IN.items():
        if results.get(part):
            recorded = recorded_run(results, command, part)
        else:
            recorded = _between(previous, start, end) or _no_run(part)
        lines += [head, start, recorded, end, "", notes]
    return lines


def _no_run(part: str) -> str:
    return f"No recorded run yet: `python -m benchmarks --parts {part} --readme` writes one."


def recorded_run(results: dict[str, Any], command: str, part: str) -> str:
    """An opt-in part's recorded run: when, where, its tables and targets."""
    info = results["machine"]
    when = time.strftime("%Y-%m-%d", time.gmtime(results.get("finished", time.time())))
    load = ", ".join(f"{x:.2f}" for x in info.get("load") or ())
    versions = ", ".join(
        f"{name} {info['versions'][name]}"
        for name in _OPT_IN[part][4]
        if name in info.get("versions", {})
    )
    return "\n".join(
        [
            "### Results",
            "",
            f"One run on {when}: `{command}` ({results['seconds'] / 60:.1f} minutes), source "
            f"{info.get('revision', 'unknown')}, {info['cpu']} ({info['nproc']} cores), "
            f"{info['python']}, {versions}; load average (1, 5, 15 min) at the end: {load}.",
            "",
            report.tables(results, level="####", group=part),
        ]
    )


def update_opt_in_sections(path: Path, results: dict[str, Any], command: str) -> None:
    """Rewrite the README at ``path`` with this run's results of the opt-in parts it ran,
    keeping the results of the whole run already there (its ``## Results`` up to the
    first opt-in section or the profiling log) and the other opt-in parts' recorded runs;
    the rest comes from this template."""
    text = path.read_text(encoding="utf-8")
    start = text.find("## Results")
    heads = [head.splitlines()[0] for head, *_ in _OPT_IN.values()] + ["## Profiling log"]
    ends = [i for i in (text.find(head) for head in heads) if i >= 0]
    kept = text[start : min(ends)].rstrip("\n") if start >= 0 and ends else ""
    parts = [_HEAD, kept, "", *_opt_in_sections(results, command, text), _LOG]
    path.write_text("\n".join(parts), encoding="utf-8")


def _between(text: str, start_mark: str, end_mark: str) -> str:
    start, end = text.find(start_mark), text.find(end_mark)
    if start < 0 or end < start:
        return ""
    return text[start + len(start_mark) : end].strip("\n")


def _notes(results: dict[str, Any]) -> str:
    out = []
    failed = {
        (r["client"], r["stream"], r["error"])
        for r in results.get("throughput", [])
        if r.get("error")
    }
    for client, stream, error in sorted(failed):
        out.append(f"- {client} fails on the {stream} stream: `{error}`.")
    return "\n".join(out)


_SUMMARY_ROWS = (
    ("raw", "raw httpx `aiter_raw()` drain (httpx's own limit)"),
    ("sudo_stream", "**sudo_stream** `create_streaming` iteration (typed chunks)"),
    ("sudo_stream-final", "**sudo_stream** with `final_completion()`"),
    ("httpx-sse", "httpx-sse + `json.loads`"),
    ("openai", "openai-python stream"),
    ("openai-helper", "openai-python `.stream()` accumulating helper"),
    ("sudo-ai", "sudo-ai async stream"),
)


def summary(results: dict[str, Any]) -> str:
    """The top-level README's benchmark section: the content stream per client and loop,
    then one line each for concurrency, latency, imports and the targets."""
    res = Results(results)
    rows = [r for r in results.get("throughput", []) if r["stream"] == "content"]
    if not rows:
        return ""
    chunks = rows[0]["chunks"]
    backends = res.backends("throughput")

    def rate(backend: str, client: str) -> str:
        for r in rows:
            if (r["backend"], r["client"]) == (backend, client) and r["n"] and not r["error"]:
                text = f"{chunks / r['min']:,.0f}"
                return f"**{text}**" if client.startswith("sudo_stream") else text
        return f"({backends[0]} only)" if client == "sudo-ai" else "—"

    lines = [
        "One run on a 2-core machine, same bytes for every client, one HTTP chunk per event",
        "(the full tables, method and versions are in [benchmarks/README.md]"
        "(benchmarks/README.md)):",
        "",
        f"| {chunks:,}-chunk stream, chunks/s (best round) | " + " | ".join(backends) + " |",
        "|---|" + "---:|" * len(backends),
    ]
    for client, label in _SUMMARY_ROWS:
        lines.append(f"| {label} | " + " | ".join(rate(b, client) for b in backends) + " |")
    backend = backends[0]
    facts = []
    ours, raw = res.concurrency(backend, "sudo_stream"), res.concurrency(backend, "raw")
    openai = res.concurrency(backend, "openai")
    runs = results.get("concurrency", [])
    if ours["wall"] and ours["rss_per_stream"]:
        text = (
            f"{runs[0]['streams']:,} streams of {runs[0]['chunks']} chunks, all open at once "
            f"({backend}, best round): sudo_stream {ours['wall']:.1f} s and "
            f"{ours['rss_per_stream'] / 1024:.0f} KiB per open stream"
        )
        if openai["wall"] and openai["rss_per_stream"]:
            text += (
                f", openai-python {openai['wall']:.0f} s and "
                f"{openai['rss_per_stream'] / 1024:.0f} KiB"
            )
        if raw["wall"]:
            text += f" (raw httpx {raw['wall']:.1f} s)"
        facts.append(text + ".")
    added = res.latency_added(backend, "sudo_stream")
    if added is not None:
        text = f"Added time to first chunk over raw httpx: {added * 1e3:+.2f} ms"
        peer = res.latency_added(backend, "openai")
        if peer is not None:
            text += f" (openai-python {peer * 1e3:+.2f} ms)"
        facts.append(text + ".")
    mine, theirs = res.import_time("sudo_stream"), res.import_time("openai")
    if mine is not None and theirs is not None:
        facts.append(f"`import sudo_stream`: {mine * 1e3:.0f} ms (openai: {theirs * 1e3:.0f} ms).")
    checked = [v for v in verdicts(results) if v.passed is not None]
    missed = [
        f"{v.target} ({v.where}: {report.measured(v)}, needs {v.required})"
        for v in checked
        if not v.passed
    ]
    text = f"Targets of the design doc met: {len(checked) - len(missed)} of {len(checked)}"
    facts.append(text + (f"; missed: {'; '.join(missed)}." if missed else "."))
    paragraph = textwrap.fill(" ".join(facts), width=92, break_on_hyphens=False)
    lines += ["", paragraph, "", "![throughput per client](benchmarks/throughput.png)"]
    return "\n".join(lines)


def update_summary(readme: Path, results: dict[str, Any]) -> bool:
    """Replace the text between the BENCHMARKS markers of ``readme``; False if absent."""
    text = readme.read_text(encoding="utf-8")
    start = text.find(SUMMARY_START)
    end = text.find(SUMMARY_END)
    body = summary(results)
    if start < 0 or end < start or not body:
        return False
    head_end = text.index("-->", start) + 3
    readme.write_text(text[:head_end] + "\n" + body + "\n" + text[end:], encoding="utf-8")
    return True
