// One thread's speed on a fixed JS workload (integer hashing and float math over a typed array), to
// compare a host's per-core speed with another's (session 11: the H200 host against the development
// VM, where one `tokenizers` thread took 61 against 25 µs per STS sentence). Prints ms (lower is faster).
const a = new Float64Array(1 << 16);
const t0 = performance.now();
let h = 2166136261;
for (let r = 0; r < 600; r++) {
  for (let i = 0; i < a.length; i++) {
    h = Math.imul(h ^ i, 16777619) >>> 0;
    a[i] = a[i] * 0.5 + Math.sqrt((h & 1023) + r);
  }
}
console.log(`cpu-loop: ${(performance.now() - t0).toFixed(1)} ms (checksum ${a[12345].toFixed(3)})`);
