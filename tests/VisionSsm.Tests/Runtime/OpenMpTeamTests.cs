using System.Collections.Concurrent;
using VisionSsm.Runtime;

namespace VisionSsm.Tests.Runtime;

public class OpenMpTeamTests
{
    static readonly ParallelOptions Two = new() { MaxDegreeOfParallelism = 2 };

    [Fact]
    public void Libtorchs_libgomp_is_found_on_linux()
    {
        NativeLibraryCheck.EnsureLoaded();
        Assert.Equal(OperatingSystem.IsLinux(), OpenMpTeam.Available);
    }

    [Fact]
    public void Every_index_runs_exactly_once()
    {
        var hits = new int[1000];
        var threads = new ConcurrentDictionary<int, bool>();
        OpenMpTeam.For(0, hits.Length, Two, i =>
        {
            Interlocked.Increment(ref hits[i]);
            threads[Environment.CurrentManagedThreadId] = true;
            Thread.SpinWait(200);
        });
        Assert.All(hits, h => Assert.Equal(1, h));
        Assert.InRange(threads.Count, 1, 2);
    }

    [Fact]
    public void Each_thread_folds_its_local_state_once()
    {
        long total = 0;
        int inits = 0, finals = 0;
        OpenMpTeam.For(10, 510, Two,
            () => { Interlocked.Increment(ref inits); return 0L; },
            (i, local) => local + i,
            local => { Interlocked.Add(ref total, local); Interlocked.Increment(ref finals); });
        Assert.Equal(Enumerable.Range(10, 500).Sum(i => (long)i), total);
        Assert.Equal(inits, finals);
        Assert.InRange(inits, 1, 2);
    }

    [Fact]
    public void A_throwing_body_surfaces_as_an_aggregate_exception_and_stops_the_loop()
    {
        int ran = 0;
        var e = Assert.Throws<AggregateException>(() => OpenMpTeam.For(0, 100_000, Two, i =>
        {
            Interlocked.Increment(ref ran);
            if (i == 3) throw new InvalidOperationException("boom at 3");
            Thread.SpinWait(50);
        }));
        Assert.Equal("boom at 3", Assert.IsType<InvalidOperationException>(Assert.Single(e.InnerExceptions)).Message);
        Assert.True(ran < 100_000, $"{ran} bodies ran after the throw");
    }

    [Fact]
    public void A_nested_loop_runs_on_the_calling_thread()
    {
        var sums = new long[4];
        OpenMpTeam.For(0, 4, Two, i =>
        {
            int outer = Environment.CurrentManagedThreadId;
            OpenMpTeam.For(0, 100, Two, j =>
            {
                if (OpenMpTeam.Available) Assert.Equal(outer, Environment.CurrentManagedThreadId);
                Interlocked.Add(ref sums[i], j);
            });
        });
        Assert.All(sums, s => Assert.Equal(4950, s));
    }

    [Fact]
    public void Empty_and_single_ranges_need_no_team()
    {
        int calls = 0;
        OpenMpTeam.For(5, 5, Two, _ => calls++);
        OpenMpTeam.For(5, 2, Two, _ => calls++);
        Assert.Equal(0, calls);
        OpenMpTeam.For(7, 8, Two, i => { Assert.Equal(7, i); calls++; });
        Assert.Equal(1, calls);
    }
}
