//! The process-wide runtime: one wasmtime engine configured for components, fuel and epoch
//! preemption, its epoch ticker, the compile cache, and the node's CPU calibration (how much
//! fuel one core burns per second), which turns millicores into a fuel rate.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, Linker, Module, PoolingAllocationConfig, Store,
    UpdateDeadline,
};

use crate::cache::CompileCache;
use crate::error::SandboxError;

/// How the runtime is set up; tests shorten what they can.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Where compiled artifacts are cached (none: compile every time).
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch advances: the preemption and throttling granularity.
    pub epoch_tick: Duration,
    /// Fuel one core burns per second; `None` measures it at startup.
    pub fuel_per_core_second: Option<u64>,
    /// How long the startup calibration spins.
    pub calibration_time: Duration,
    /// Bytes of each captured log kept per container run.
    pub log_bytes_per_container: usize,
    /// Whether guests are fuel-metered. Only a benchmark baseline turns this off: without
    /// metering, CPU limits cannot be enforced and usage reports no fuel.
    pub metering: bool,
    /// Instances come from a preallocated pool instead of fresh mappings per instance: much
    /// faster for short-lived instances (an HTTP request each), at the price of reserving
    /// address space for the whole pool at startup and capping every linear memory at the
    /// pool's slot size. `None` maps memory per instance, reserving nothing up front.
    pub instance_pool: Option<InstancePool>,
}

/// The size of the instance pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstancePool {
    /// Component instances alive at once (running commands plus in-flight requests).
    pub instances: u32,
    /// The most a linear memory may grow to, and the address space each memory slot reserves.
    pub max_memory_bytes: u64,
}

impl InstancePool {
    /// Address space the pool reserves: memory slots (two per instance) with their guards,
    /// plus a fiber stack per instance.
    pub fn reserved_bytes(&self) -> u64 {
        let instances = u64::from(self.instances);
        instances * MEMORIES_PER_INSTANCE * (self.max_memory_bytes + GUARD_BYTES)
            + instances * STACK_BYTES
    }
}

/// Guard pages after each linear memory.
const GUARD_BYTES: u64 = 64 << 10;
/// The fiber stack of each store running a guest.
const STACK_BYTES: u64 = 2 << 20;
/// Bytes of each pooled memory, table and stack reset by zeroing rather than returned to the
/// kernel between instances: returning pages costs a TLB shootdown on every core.
const KEEP_RESIDENT: usize = 512 << 10;
/// Linear memories pooled per component instance (a module and its adapter).
const MEMORIES_PER_INSTANCE: u64 = 2;

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            cache_dir: None,
            epoch_tick: Duration::from_millis(1),
            fuel_per_core_second: None,
            calibration_time: Duration::from_millis(200),
            log_bytes_per_container: 2 * 1024 * 1024,
            metering: true,
            instance_pool: None,
        }
    }
}

/// The engine and what goes with it; cheap to clone.
#[derive(Clone, Debug)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    cache: CompileCache,
    config: RuntimeConfig,
    fuel_per_core_second: u64,
    /// Held for its `Drop`, which stops the ticker thread with the runtime.
    _ticker: Ticker,
}

/// The epoch ticker thread; it stops when the sender is dropped with the runtime.
#[derive(Debug)]
struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Runtime {
    /// Builds the engine, starts the epoch ticker and calibrates fuel unless configured.
    ///
    /// # Errors
    /// The engine cannot be built or the cache directory cannot be created.
    pub fn new(config: RuntimeConfig) -> Result<Self, SandboxError> {
        let engine = Engine::new(&engine_config(&config))
            .map_err(|e| SandboxError::Engine(e.to_string()))?;
        let cache = CompileCache::new(&engine, config.cache_dir.clone())?;
        let ticker = start_ticker(engine.clone(), config.epoch_tick);
        let fuel_per_core_second = match config.fuel_per_core_second {
            Some(fuel) => fuel,
            None if config.metering => calibrate(&engine, config.calibration_time)?,
            None => 1,
        };
        tracing::info!(fuel_per_core_second, "wasm runtime ready");
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                cache,
                config,
                fuel_per_core_second,
                _ticker: ticker,
            }),
        })
    }

    /// The wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Fuel one core burns per second on this node.
    pub fn fuel_per_core_second(&self) -> u64 {
        self.inner.fuel_per_core_second
    }

    /// The fuel rate of a CPU limit in millicores.
    pub fn fuel_per_second(&self, millicores: u64) -> u64 {
        let rate = u128::from(self.inner.fuel_per_core_second) * u128::from(millicores) / 1000;
        u64::try_from(rate).unwrap_or(u64::MAX)
    }

    pub(crate) fn cache(&self) -> &CompileCache {
        &self.inner.cache
    }

    /// Whether guests are fuel-metered.
    pub fn metering(&self) -> bool {
        self.inner.config.metering
    }

    pub(crate) fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }
}

fn engine_config(runtime: &RuntimeConfig) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.consume_fuel(runtime.metering);
    config.epoch_interruption(true);
    config.memory_guard_size(GUARD_BYTES);
    config.memory_init_cow(true);
    config.max_wasm_stack(1 << 20);
    config.async_stack_size(STACK_BYTES as usize);
    match runtime.instance_pool {
        None => {
            // Memories reserve address space per instance, lazily and small: an edge device
            // with 1 GiB must run dozens of pods. Bounds checks stay explicit.
            config.memory_reservation(64 << 20);
            config.memory_reservation_for_growth(16 << 20);
        }
        Some(pool) => {
            let instances = pool.instances.max(1);
            let max_memory = usize::try_from(pool.max_memory_bytes).unwrap_or(usize::MAX);
            let mut pooling = PoolingAllocationConfig::new();
            pooling
                .total_component_instances(instances)
                .total_core_instances(instances.saturating_mul(8))
                .total_memories(instances.saturating_mul(MEMORIES_PER_INSTANCE as u32))
                .total_tables(instances.saturating_mul(4))
                .total_stacks(instances)
                .max_core_instances_per_component(16)
                .max_memories_per_component(MEMORIES_PER_INSTANCE as u32)
                .max_tables_per_component(4)
                .max_memory_size(max_memory)
                .linear_memory_keep_resident(KEEP_RESIDENT)
                .table_keep_resident(KEEP_RESIDENT)
                .async_stack_keep_resident(KEEP_RESIDENT);
            config.memory_reservation(pool.max_memory_bytes);
            config.memory_reservation_for_growth(0);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
        }
    }
    config
}

fn start_ticker(engine: Engine, tick: Duration) -> Ticker {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("wasm-epoch".to_owned())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                engine.increment_epoch();
            }
        })
        .ok();
    Ticker {
        stop: Some(stop),
        thread,
    }
}

/// The reference guest for calibration: a loop shaped like compiled code rather than pure
/// register arithmetic, since fuel counts operators and their cost differs. Each step loads
/// and stores linear memory (walking a 4 KiB window), multiplies and adds, branches, and
/// calls a small function one time in eight.
const CALIBRATION_GUEST: &str = r#"
(module
  (memory 1)
  (func $mix (param $x i64) (result i64)
    (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 29))))
  (func (export "spin") (param $n i64) (result i64)
    (local $x i64)
    (local $addr i32)
    (local.set $x (i64.const 1))
    (block $done
      (loop $next
        (br_if $done (i64.eqz (local.get $n)))
        (local.set $addr (i32.and (i32.shl (i32.wrap_i64 (local.get $n)) (i32.const 3))
                                  (i32.const 4088)))
        (local.set $x (i64.add (i64.mul (i64.load (local.get $addr))
                                        (i64.const 6364136223846793005))
                               (local.get $x)))
        (i64.store (local.get $addr) (local.get $x))
        (if (i64.eqz (i64.and (local.get $x) (i64.const 7)))
          (then (local.set $x (call $mix (local.get $x)))))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $x)))
"#;

/// Measures the fuel one core burns per second: runs the reference loop on this thread for
/// about `duration` and divides the fuel consumed by the time taken.
fn calibrate(engine: &Engine, duration: Duration) -> Result<u64, SandboxError> {
    let fail = |e: wasmtime::Error| SandboxError::Engine(format!("calibration: {e}"));
    let module = Module::new(engine, CALIBRATION_GUEST).map_err(fail)?;
    let mut store = Store::new(engine, ());
    store.set_fuel(u64::MAX / 2).map_err(fail)?;
    store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Continue(1)));
    store.set_epoch_deadline(1);
    let instance = Linker::new(engine)
        .instantiate(&mut store, &module)
        .map_err(fail)?;
    let spin = instance
        .get_typed_func::<i64, i64>(&mut store, "spin")
        .map_err(fail)?;
    // Grow the batch until one batch takes a measurable time, then run for `duration`.
    let mut batch: i64 = 10_000;
    let start_fuel = store.get_fuel().map_err(fail)?;
    let start = Instant::now();
    while start.elapsed() < duration {
        let batch_start = Instant::now();
        std::hint::black_box(spin.call(&mut store, batch).map_err(fail)?);
        if batch_start.elapsed() < Duration::from_millis(5) {
            batch = batch.saturating_mul(2);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let consumed = start_fuel - store.get_fuel().map_err(fail)?;
    Ok(((consumed as f64) / elapsed).max(1.0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_measures_a_plausible_rate() {
        let runtime = Runtime::new(RuntimeConfig {
            calibration_time: Duration::from_millis(50),
            ..RuntimeConfig::default()
        })
        .unwrap();
        // Any real core burns far more than ten million simple instructions a second.
        assert!(
            runtime.fuel_per_core_second() > 10_000_000,
            "{}",
            runtime.fuel_per_core_second()
        );
        assert_eq!(
            runtime.fuel_per_second(250),
            runtime.fuel_per_core_second() / 4
        );
    }
}
