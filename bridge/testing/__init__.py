"""What the tests, the benchmarks and the demo share: the sample 志愿云 store and its
server twin, the demo's other sources, the fake agency server and the sandbox as a child
process. Nothing in the engine, the operations or the commands (but `demo`) imports it."""
