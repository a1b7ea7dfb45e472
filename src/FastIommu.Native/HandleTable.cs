using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastIommu.Native;

/// <summary>The kinds of object a handle names; a handle of one kind passed where another is expected is refused.</summary>
internal enum HandleKind : byte
{
    None = 0,
    Memory,
    Allocator,
    PageTable,
    Gather,
    Iommu,
    Driver,
    Instance,
    Group,
    Device,
    Domain,
    UnmapGather,
    Sva,
    Image,
}

/// <summary>What a handle stands for: the managed object and the count of live handles that borrow it (an allocator
/// borrows its memory, a page table its allocator, a device its memory). An object with borrowers refuses destruction.</summary>
internal abstract class NativeObject : IDisposable
{
    public abstract HandleKind Kind { get; }

    /// <summary>Live handles that borrow this object; changed only under the table's lock.</summary>
    public int Borrowers;

    /// <summary>The object this one borrows (released when this one is destroyed), or null.</summary>
    public NativeObject? Lender;

    /// <summary>A second object it borrows (an instance over a device handle borrows the driver and the device; a
    /// device its instance and its group), or null.</summary>
    public NativeObject? SecondLender;

    /// <summary>Releases what the object holds. Called under the table's lock before the handle is retired; if it throws,
    /// the handle stays valid.</summary>
    public abstract void Dispose();
}

/// <summary>
/// The only global state of the library: the map from C handles to objects. A handle is (generation &lt;&lt; 32) |
/// (slot + 1): 0 is never a handle, and a destroyed handle's slot gets a new generation, so a stale or forged handle
/// finds either a different generation or an empty slot and is refused with a status, never dereferenced.
/// </summary>
/// <remarks>Lookups are lock-free (one array load per level and a compare); creation and destruction take one lock.
/// Slots live in chunks that are allocated once and never move, so a lookup racing a creation reads a stable array.
/// A slot holds an immutable <see cref="Slot"/>, replaced whole, so its generation and object are read together.</remarks>
internal static class HandleTable
{
    private const int ChunkBits = 10;
    private const int ChunkSize = 1 << ChunkBits;
    private const int MaxChunks = 1024; // 1 Mi live handles

    private sealed class Slot(uint generation, NativeObject? target)
    {
        public readonly uint Generation = generation;
        public readonly NativeObject? Target = target;
    }

    // Only the chunk array is a static of this class: NativeAOT pre-initializes it at compile time (an array
    // allocation), so a lookup reads it with no class-constructor check. The lock and the free list, which need a
    // run-time constructor, live in Writers, touched only by Add and Remove.
    private static readonly Slot?[]?[] s_chunks = new Slot?[]?[MaxChunks];

    private static class Writers
    {
        public static readonly Lock Gate = new();
        public static readonly Stack<int> Free = new();
        public static int Used; // slots ever handed out
    }

    /// <summary>Enters <paramref name="target"/> and returns its handle; takes a borrow on its lender.</summary>
    /// <exception cref="HandleTableFullException">Every slot is in use.</exception>
    public static ulong Add(NativeObject target)
    {
        lock (Writers.Gate)
        {
            int index;
            if (Writers.Free.Count > 0)
            {
                index = Writers.Free.Pop();
            }
            else
            {
                if (Writers.Used == MaxChunks * ChunkSize)
                {
                    throw new HandleTableFullException($"All {MaxChunks * ChunkSize} handles are in use.");
                }

                index = Writers.Used++;
                s_chunks[index >> ChunkBits] ??= new Slot?[ChunkSize];
            }

            ref Slot? slot = ref s_chunks[index >> ChunkBits]![index & (ChunkSize - 1)];
            uint generation = slot is null ? 1 : slot.Generation; // a freed slot already carries its next generation
            if (target.Lender is not null)
            {
                target.Lender.Borrowers++;
            }

            if (target.SecondLender is not null)
            {
                target.SecondLender.Borrowers++;
            }

            Volatile.Write(ref slot, new Slot(generation, target));
            return ((ulong)generation << 32) | (uint)(index + 1);
        }
    }

    /// <summary>The object of kind <typeparamref name="T"/> that <paramref name="handle"/> names, or null.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T? Find<T>(ulong handle) where T : NativeObject
    {
        uint index = (uint)handle - 1; // handle 0 wraps to a huge index and fails the chunk check
        uint chunkIndex = index >> ChunkBits;
        if (chunkIndex >= MaxChunks)
        {
            return null;
        }

        // chunkIndex < MaxChunks = s_chunks.Length and every chunk has ChunkSize slots: the reads need no bounds
        // check, which the AOT compiler (not knowing the lengths) would otherwise emit twice per call.
        Slot?[]? chunk = Volatile.Read(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(s_chunks), (nint)chunkIndex));
        if (chunk is null)
        {
            return null;
        }

        Slot? slot = Volatile.Read(ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(chunk), (nint)(index & (ChunkSize - 1))));
        return slot is not null && slot.Generation == (uint)(handle >> 32) ? slot.Target as T : null;
    }

    /// <summary>Removes the object <paramref name="handle"/> names and releases it. Refused while others borrow it.</summary>
    public static NativeStatus Remove<T>(ulong handle) where T : NativeObject
    {
        lock (Writers.Gate)
        {
            T? target = Find<T>(handle);
            if (target is null)
            {
                return LastError.Set(NativeStatus.InvalidHandle, $"Handle 0x{handle:x} is not a live {typeof(T).Name}.");
            }

            if (target.Borrowers != 0)
            {
                return LastError.Set(NativeStatus.InUse,
                    $"Handle 0x{handle:x} is borrowed by {target.Borrowers} live handle(s); destroy them first.");
            }

            // Release first: if the object refuses (a core object still in use throws), the handle stays valid and
            // the caller gets the status, instead of a handle gone and its memory never freed.
            target.Dispose();
            int index = (int)(uint)handle - 1;
            uint next = (uint)(handle >> 32) + 1;
            // Generation 0 is skipped so a handle is never (0 << 32) | n for a reused slot: easier to spot in a dump.
            Volatile.Write(ref s_chunks[index >> ChunkBits]![index & (ChunkSize - 1)], new Slot(next == 0 ? 1 : next, null));
            Writers.Free.Push(index);
            if (target.Lender is not null)
            {
                target.Lender.Borrowers--;
            }

            if (target.SecondLender is not null)
            {
                target.SecondLender.Borrowers--;
            }

            return NativeStatus.Ok;
        }
    }
}

/// <summary>No handle slot is free.</summary>
internal sealed class HandleTableFullException(string message) : Exception(message);
