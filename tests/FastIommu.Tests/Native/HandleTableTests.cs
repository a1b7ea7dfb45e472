using FastIommu.Native;

namespace FastIommu.Tests.Native;

/// <summary>The handle table behind every C handle: generations, kinds, borrowing, and an object that refuses to die.</summary>
public class HandleTableTests
{
    private sealed class Probe : NativeObject
    {
        public bool Refuse;
        public int Disposed;

        public override HandleKind Kind => HandleKind.Memory;

        public override void Dispose()
        {
            if (Refuse)
            {
                throw new InvalidOperationException("still in use");
            }

            Disposed++;
        }
    }

    private sealed class Other : NativeObject
    {
        public override HandleKind Kind => HandleKind.Gather;

        public override void Dispose()
        {
        }
    }

    [Test]
    public void A_destroyed_handle_stays_refused_after_its_slot_is_reused()
    {
        var first = new Probe();
        ulong handle = HandleTable.Add(first);
        Assert.That(HandleTable.Remove<Probe>(handle), Is.EqualTo(NativeStatus.Ok), "destroy");
        Assert.That(first.Disposed, Is.EqualTo(1), "disposed once");
        ulong reused = HandleTable.Add(new Probe());
        Assert.Multiple(() =>
        {
            Assert.That((uint)reused, Is.EqualTo((uint)handle), "the freed slot is taken again");
            Assert.That(reused, Is.Not.EqualTo(handle), "with a new generation");
            Assert.That(HandleTable.Find<Probe>(handle), Is.Null, "the old handle finds nothing");
            Assert.That(HandleTable.Remove<Probe>(handle), Is.EqualTo(NativeStatus.InvalidHandle), "nor destroys the new object");
            Assert.That(HandleTable.Find<Probe>(reused), Is.Not.Null, "the new handle works");
            Assert.That(HandleTable.Find<Other>(reused), Is.Null, "as its own kind only");
            Assert.That(HandleTable.Find<Probe>(0), Is.Null, "0 is never a handle");
            Assert.That(HandleTable.Find<Probe>(ulong.MaxValue), Is.Null, "nor a forged one");
        });
        Assert.That(HandleTable.Remove<Probe>(reused), Is.EqualTo(NativeStatus.Ok), "clean up");
    }

    [Test]
    public void A_lender_is_refused_destruction_while_borrowed()
    {
        var lender = new Probe();
        ulong lenderHandle = HandleTable.Add(lender);
        ulong borrower = HandleTable.Add(new Other { Lender = lender });
        Assert.That(HandleTable.Remove<Probe>(lenderHandle), Is.EqualTo(NativeStatus.InUse), "borrowed");
        Assert.That(lender.Disposed, Is.Zero, "and not disposed");
        Assert.That(HandleTable.Remove<Other>(borrower), Is.EqualTo(NativeStatus.Ok), "the borrower goes first");
        Assert.That(HandleTable.Remove<Probe>(lenderHandle), Is.EqualTo(NativeStatus.Ok), "then the lender");
    }

    [Test]
    public void An_object_that_refuses_disposal_keeps_its_handle()
    {
        var probe = new Probe { Refuse = true };
        ulong handle = HandleTable.Add(probe);
        Assert.That(() => HandleTable.Remove<Probe>(handle), Throws.InvalidOperationException, "the refusal reaches the export, which maps it to a status");
        Assert.That(HandleTable.Find<Probe>(handle), Is.SameAs(probe), "the handle is still valid, so the caller can retry");
        probe.Refuse = false;
        Assert.That(HandleTable.Remove<Probe>(handle), Is.EqualTo(NativeStatus.Ok), "and the retry frees it");
        Assert.That(HandleTable.Find<Probe>(handle), Is.Null, "gone");
    }
}
