/*
 * Test-only stand-in for Windows' bcryptprimitives.dll, for running the cross-built .exe under
 * Debian's wine64 (8.0), which lacks it. Rust's std (>= 1.78) imports ProcessPrng from it for
 * random numbers (HashMap seeds). Never shipped: tests/system_windows.rs builds it next to the
 * .exe in a temporary directory.
 *
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll \
 *       bcryptprimitives.c bcryptprimitives.def -ladvapi32
 */
#include <windows.h>

/* RtlGenRandom, exported by advapi32 as SystemFunction036. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
