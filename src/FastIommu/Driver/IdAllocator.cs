namespace FastIommu.Driver;

/// <summary>Hands out small integer ids (PSCIDs, GSCIDs, PASIDs) from [first, limit), lowest free first. Not on a hot
/// path: attach and bind take it under their locks; it locks itself too so it is safe alone.</summary>
internal sealed class IdAllocator
{
    private readonly Lock _lock = new();
    private readonly ulong[] _used;
    private readonly uint _first;
    private readonly uint _limit;
    private uint _hint;
    private int _inUse;

    public IdAllocator(string name, uint first, uint limit)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(first, limit);
        Name = name;
        _first = first;
        _limit = limit;
        _hint = first;
        _used = new ulong[(limit + 63) / 64];
    }

    /// <summary>What the ids are ("PSCID", ...), for error messages.</summary>
    public string Name { get; }

    /// <summary>Ids handed out now.</summary>
    public int InUse => Volatile.Read(ref _inUse);

    /// <summary>Ids that can be handed out at most.</summary>
    public long Capacity => _limit - _first;

    /// <summary>The lowest free id at or after the last one handed out (wrapping), or false when none is left.</summary>
    public bool TryAllocate(out uint id) => TryAllocate(_limit, out id);

    /// <summary>As <see cref="TryAllocate(out uint)"/>, below <paramref name="below"/> only.</summary>
    public bool TryAllocate(uint below, out uint id)
    {
        below = Math.Min(below, _limit);
        lock (_lock)
        {
            uint span = below > _first ? below - _first : 0;
            uint start = _hint >= _first && _hint < below ? _hint : _first;
            for (uint i = 0; i < span; i++)
            {
                uint candidate = start + i;
                if (candidate >= below)
                {
                    candidate = _first + (candidate - below);
                }

                ref ulong word = ref _used[candidate / 64];
                ulong bit = 1UL << (int)(candidate % 64);
                if ((word & bit) == 0)
                {
                    word |= bit;
                    _hint = candidate + 1;
                    _inUse++;
                    id = candidate;
                    return true;
                }
            }

            id = 0;
            return false;
        }
    }

    /// <summary>Returns <paramref name="id"/>.</summary>
    /// <exception cref="InvalidOperationException">The id is not handed out (double free).</exception>
    public void Free(uint id)
    {
        lock (_lock)
        {
            if (id < _first || id >= _limit || (_used[id / 64] & (1UL << (int)(id % 64))) == 0)
            {
                throw new InvalidOperationException($"{Name} {id} is not allocated (double free).");
            }

            _used[id / 64] &= ~(1UL << (int)(id % 64));
            _inUse--;
        }
    }

    /// <summary>True when <paramref name="id"/> is handed out.</summary>
    public bool IsAllocated(uint id)
    {
        lock (_lock)
        {
            return id >= _first && id < _limit && (_used[id / 64] & (1UL << (int)(id % 64))) != 0;
        }
    }
}
