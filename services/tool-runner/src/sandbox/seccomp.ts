/**
 * The sandbox's seccomp filter, built here as a classic-BPF program (no libseccomp, no native
 * code) and handed to bwrap with `--seccomp FD`.
 *
 * Why: the sandbox has its own IPC namespace, and System V shared memory in it is charged to no
 * process's RLIMIT_AS once detached, so `shmget` could pin far more RAM than `SHELL_MEMORY_MB`
 * (up to the namespace's shmall: practically unlimited). Message queues and semaphore sets are
 * kernel memory of the same kind. The whole SysV IPC family therefore fails with EPERM; POSIX
 * shared memory (`/dev/shm`, a size-capped tmpfs) is what programs get instead, and what
 * Python's `multiprocessing` uses anyway. The price: programs that insist on SysV IPC (a
 * PostgreSQL server, for one) do not start in the sandbox. Everything else is allowed: the
 * namespaces, the read-only mounts and the limits do the rest of the confining.
 *
 * Syscall numbers only mean something for one ABI, so the program first checks
 * `seccomp_data.arch`: a syscall made through any other ABI (i386 `int 0x80` on x86_64, AArch32
 * on arm64) would otherwise pass with numbers the filter never looks at. Such syscalls, and x32
 * syscalls on x86_64 (native arch, but `nr` with bit 30 set), kill the process: nothing the
 * sandbox runs needs them, and killing leaves no half-working state to reason about.
 */
import { endianness } from 'node:os';

// Classic BPF opcodes (linux/bpf_common.h) used by the program.
const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS: A = 32-bit word at offset k of seccomp_data
const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K: pc += (A == k) ? jt : jf
const BPF_JGE_K = 0x35; // BPF_JMP | BPF_JGE | BPF_K: pc += (A >= k) ? jt : jf
const BPF_RET_K = 0x06; // BPF_RET | BPF_K: return k

// struct seccomp_data { int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]; }
const SECCOMP_DATA_NR = 0;
const SECCOMP_DATA_ARCH = 4;

// Return values (linux/seccomp.h).
export const SECCOMP_RET_KILL_PROCESS = 0x80000000;
export const SECCOMP_RET_ERRNO = 0x00050000;
export const SECCOMP_RET_ALLOW = 0x7fff0000;
const EPERM = 1;

/** x32 syscalls reach the kernel as AUDIT_ARCH_X86_64 with this bit set in `nr`. */
export const X32_SYSCALL_BIT = 0x40000000;

/** One architecture the filter knows: its AUDIT_ARCH value and the SysV IPC syscall numbers. */
interface ArchSyscalls {
  auditArch: number;
  /** Deny every `nr` at or above this (x86_64: the x32 ABI); unset where there is no such range. */
  denyFromNr?: number;
  /** SysV IPC syscalls, by name, that fail with EPERM. */
  denied: Readonly<Record<string, number>>;
}

/**
 * Per `process.arch`. Numbers from the kernel's uapi headers: asm/unistd_64.h for x86_64,
 * asm-generic/unistd.h for arm64. Denying the `*get` calls alone would suffice in a fresh IPC
 * namespace (no ids exist to attach to); the rest are denied so the rule reads "no SysV IPC".
 */
export const SECCOMP_ARCHES: Readonly<Record<string, ArchSyscalls>> = {
  x64: {
    auditArch: 0xc000003e, // AUDIT_ARCH_X86_64
    denyFromNr: X32_SYSCALL_BIT,
    denied: {
      shmget: 29, shmat: 30, shmctl: 31, shmdt: 67,
      semget: 64, semop: 65, semctl: 66, semtimedop: 220,
      msgget: 68, msgsnd: 69, msgrcv: 70, msgctl: 71,
    },
  },
  arm64: {
    auditArch: 0xc00000b7, // AUDIT_ARCH_AARCH64
    denied: {
      msgget: 186, msgctl: 187, msgrcv: 188, msgsnd: 189,
      semget: 190, semctl: 191, semtimedop: 192, semop: 193,
      shmget: 194, shmctl: 195, shmat: 196, shmdt: 197,
    },
  },
};

/** One `struct sock_filter` instruction. */
export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** Thrown for a `process.arch` the filter has no syscall table for: the shell must then stay disabled. */
export class UnsupportedSeccompArchError extends Error {
  readonly code = 'seccomp_unsupported_arch';
  readonly arch: string;
  constructor(arch: string) {
    super(`no seccomp filter for the ${arch} architecture (only ${Object.keys(SECCOMP_ARCHES).join(', ')}): SysV IPC could not be blocked`);
    this.name = 'UnsupportedSeccompArchError';
    this.arch = arch;
  }
}

/**
 * The filter's instructions for `arch` (a `process.arch` value, default the runner's own):
 *
 * ```
 *   0  A = arch;  if A != AUDIT_ARCH goto kill
 *   2  A = nr;    [x86_64: if A >= 0x40000000 goto kill]
 *      if A == shmget goto deny; ... one test per denied syscall
 *      return ALLOW
 * deny: return ERRNO | EPERM
 * kill: return KILL_PROCESS
 * ```
 *
 * @throws UnsupportedSeccompArchError for an architecture without a table.
 */
export function seccompInstructions(arch: string = process.arch): BpfInstruction[] {
  // hasOwn: 'constructor' and friends are not architectures.
  const table = Object.hasOwn(SECCOMP_ARCHES, arch) ? SECCOMP_ARCHES[arch] : undefined;
  if (!table) throw new UnsupportedSeccompArchError(arch);
  const program: BpfInstruction[] = [];
  // Jumps are relative to the next instruction and only go forward; every jump here targets one
  // of the return instructions at the end, so they are recorded now and patched once those exist.
  const jumps: Array<{ at: number; to: 'deny' | 'kill'; when: 'jt' | 'jf' }> = [];
  const load = (offset: number) => program.push({ code: BPF_LD_W_ABS, jt: 0, jf: 0, k: offset });
  const jumpIf = (code: number, k: number, when: 'jt' | 'jf', to: 'deny' | 'kill') => {
    jumps.push({ at: program.length, to, when });
    program.push({ code, jt: 0, jf: 0, k });
  };
  const ret = (k: number) => program.push({ code: BPF_RET_K, jt: 0, jf: 0, k });

  load(SECCOMP_DATA_ARCH);
  jumpIf(BPF_JEQ_K, table.auditArch, 'jf', 'kill');
  load(SECCOMP_DATA_NR);
  if (table.denyFromNr !== undefined) jumpIf(BPF_JGE_K, table.denyFromNr, 'jt', 'kill');
  for (const nr of Object.values(table.denied)) jumpIf(BPF_JEQ_K, nr, 'jt', 'deny');
  ret(SECCOMP_RET_ALLOW);
  const target = { deny: program.length, kill: program.length + 1 };
  ret(SECCOMP_RET_ERRNO | EPERM);
  ret(SECCOMP_RET_KILL_PROCESS);

  for (const jump of jumps) {
    const offset = target[jump.to] - (jump.at + 1);
    // jt/jf are u8: a dozen syscalls is far from the limit, but never emit a wrapped jump.
    if (offset > 255) throw new Error(`internal: seccomp jump of ${offset} does not fit in 8 bits`);
    program[jump.at]![jump.when] = offset;
  }
  return program;
}

/**
 * The compiled filter for `arch` as bwrap reads it from `--seccomp FD`: an array of
 * `struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }` (8 bytes each) in the host's byte order.
 *
 * @throws UnsupportedSeccompArchError for an architecture without a table.
 */
export function buildSeccompFilter(arch: string = process.arch, byteOrder: 'LE' | 'BE' = endianness()): Buffer {
  const program = seccompInstructions(arch);
  const buf = Buffer.alloc(program.length * 8);
  program.forEach((insn, i) => {
    const at = i * 8;
    if (byteOrder === 'LE') buf.writeUInt16LE(insn.code, at);
    else buf.writeUInt16BE(insn.code, at);
    buf.writeUInt8(insn.jt, at + 2);
    buf.writeUInt8(insn.jf, at + 3);
    if (byteOrder === 'LE') buf.writeUInt32LE(insn.k >>> 0, at + 4);
    else buf.writeUInt32BE(insn.k >>> 0, at + 4);
  });
  return buf;
}
