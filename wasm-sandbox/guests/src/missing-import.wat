;; missing-import: a command-like component whose only import is an interface
;; no host provides.
;;
;; It exports wasi:cli/run@0.2.12 (so it looks like a command) and imports
;; shoal:test/missing@0.1.0 with `nothing: func()`. `run` calls `nothing` and
;; returns ok. Built with `wasm-tools component embed` against the
;; `shoal:guests/missing-import` world in ../wit, then `component new`.
;;
;; Tests use it to check that instantiating (or pre-instantiating) a component
;; with an unsatisfied import fails with the sandbox's "missing imports"
;; error naming shoal:test/missing@0.1.0, rather than trapping at run time.
(module
  (import "shoal:test/missing@0.1.0" "nothing" (func $nothing))
  (func (export "wasi:cli/run@0.2.12#run") (result i32)
    call $nothing
    ;; result<_, _>: discriminant 0 = ok
    i32.const 0))
