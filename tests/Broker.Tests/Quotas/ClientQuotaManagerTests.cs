using LogBroker.Broker.Quotas;
using Microsoft.Extensions.Time.Testing;

namespace LogBroker.Broker.Tests.Quotas;

public sealed class ClientQuotaManagerTests
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeMilliseconds(1_000_000));

    [Fact]
    public void No_quota_configured_never_throttles()
    {
        var manager = new ClientQuotaManager(new ClientQuotaStore(null), _time);
        Assert.False(manager.IsEnabled(QuotaType.Produce));
        Assert.Equal(0, manager.RecordAndGetThrottleMs(QuotaType.Produce, "User:ANONYMOUS", "c", 1e12));
    }

    [Fact]
    public void Precedence_follows_KIP_55()
    {
        var store = new ClientQuotaStore(null);
        var manager = new ClientQuotaManager(store, _time);
        QuotaEntity[] order =
        [
            QuotaEntity.ForUserClient("u", "c"), QuotaEntity.ForUserClient("u", null), QuotaEntity.ForUser("u"),
            QuotaEntity.ForUserClient(null, "c"), QuotaEntity.ForUserClient(null, null), QuotaEntity.ForUser(null),
            QuotaEntity.ForClient("c"), QuotaEntity.ForClient(null),
        ];
        for (int i = 0; i < order.Length; i++)
        {
            store.Apply([(order[i], QuotaType.Produce, 100 + i)]);
        }

        // Remove from the most specific down: each time the next one in the order applies.
        for (int i = 0; i < order.Length; i++)
        {
            Assert.Equal(100 + i, manager.Resolve(QuotaType.Produce, "u", "c").Limit);
            Assert.True(double.IsNaN(manager.Resolve(QuotaType.Fetch, "u", "c").Limit));
            store.Apply([(order[i], QuotaType.Produce, double.NaN)]);
        }

        Assert.True(double.IsNaN(manager.Resolve(QuotaType.Produce, "u", "c").Limit));
        Assert.Empty(store.Snapshot);
    }

    [Fact]
    public void A_user_quota_is_shared_by_the_users_client_ids_and_a_client_quota_is_per_client()
    {
        var store = new ClientQuotaStore(null);
        var manager = new ClientQuotaManager(store, _time);
        store.Apply([(QuotaEntity.ForUser("u"), QuotaType.Produce, 1000), (QuotaEntity.ForClient(null), QuotaType.Produce, 1000)]);
        Assert.Equal(new ClientQuotaManager.Resolved(1000, "u", ""), manager.Resolve(QuotaType.Produce, "u", "a"));
        Assert.Equal(new ClientQuotaManager.Resolved(1000, "", "a"), manager.Resolve(QuotaType.Produce, "v", "a"));

        // 11 windows' worth at 1000 B/s for client a of user u; client b of the same user is then throttled too.
        Assert.Equal(0, manager.RecordAndGetThrottleMs(QuotaType.Produce, "User:u", "a", 10_000));
        Assert.True(manager.RecordAndGetThrottleMs(QuotaType.Produce, "User:u", "b", 1000) > 0);

        // The default client-id quota is measured per client id: v/a is not throttled by v/b's bytes.
        Assert.True(manager.RecordAndGetThrottleMs(QuotaType.Produce, "User:v", "b", 20_000) > 0);
        Assert.Equal(0, manager.RecordAndGetThrottleMs(QuotaType.Produce, "User:v", "a", 1000));
    }

    [Fact]
    public void Throttle_time_is_the_excess_over_the_quota_times_the_window()
    {
        var store = new ClientQuotaStore(null);
        var manager = new ClientQuotaManager(store, _time);
        store.Apply([(QuotaEntity.ForClient("c"), QuotaType.Produce, 1000)]);

        // First record: window counted as 10 s; 20,000 B over 10 s is 2,000 B/s, twice the quota: (2000-1000)/1000 × 10 s.
        Assert.Equal(10_000, manager.RecordAndGetThrottleMs(QuotaType.Produce, "User:ANONYMOUS", "c", 20_000));

        // Well within: 5,000 B in 10 s.
        var fresh = new ClientQuotaManager(store, _time);
        Assert.Equal(0, fresh.RecordAndGetThrottleMs(QuotaType.Produce, "User:ANONYMOUS", "c", 5_000));
    }

    [Fact]
    public void Steady_traffic_at_twice_the_quota_is_held_to_the_quota_by_the_throttle()
    {
        var store = new ClientQuotaStore(null);
        var manager = new ClientQuotaManager(store, _time);
        store.Apply([(QuotaEntity.ForClient("c"), QuotaType.Produce, 1000)]);

        // A client that sends 200 B, then waits 100 ms or the throttle, whichever is longer, for 60 s.
        long start = _time.GetUtcNow().ToUnixTimeMilliseconds();
        long sent = 0;
        for (int i = 0; i < 10_000 && _time.GetUtcNow().ToUnixTimeMilliseconds() - start < 60_000; i++)
        {
            int throttle = manager.RecordAndGetThrottleMs(QuotaType.Produce, "User:ANONYMOUS", "c", 200);
            sent += 200;
            _time.Advance(TimeSpan.FromMilliseconds(Math.Max(100, throttle)));
        }

        double rate = sent * 1000.0 / (_time.GetUtcNow().ToUnixTimeMilliseconds() - start);
        Assert.InRange(rate, 900, 1200);
    }

    [Fact]
    public void Fetches_taken_back_when_throttled_deliver_about_the_quota()
    {
        var store = new ClientQuotaStore(null);
        var manager = new ClientQuotaManager(store, _time);
        store.Apply([(QuotaEntity.ForClient("c"), QuotaType.Fetch, 1000)]);
        Assert.Equal(10_000, manager.MaxValueInWindow(QuotaType.Fetch, "User:ANONYMOUS", "c"));
        Assert.Equal(double.PositiveInfinity, manager.MaxValueInWindow(QuotaType.Fetch, "User:ANONYMOUS", "other"));

        // A consumer that would take 500 B every 10 ms (50 kB/s): a throttled fetch sends nothing and is taken
        // back, then the consumer waits out the throttle, as the muted connection makes it.
        long start = _time.GetUtcNow().ToUnixTimeMilliseconds();
        long delivered = 0;
        for (int i = 0; i < 100_000 && _time.GetUtcNow().ToUnixTimeMilliseconds() - start < 60_000; i++)
        {
            int throttle = manager.RecordAndGetThrottleMs(QuotaType.Fetch, "User:ANONYMOUS", "c", 500);
            if (throttle > 0)
            {
                manager.Unrecord(QuotaType.Fetch, "User:ANONYMOUS", "c", 500);
            }
            else
            {
                delivered += 500;
            }

            _time.Advance(TimeSpan.FromMilliseconds(Math.Max(10, throttle)));
        }

        double rate = delivered * 1000.0 / (_time.GetUtcNow().ToUnixTimeMilliseconds() - start);
        Assert.InRange(rate, 900, 1200);
    }

    [Fact]
    public void Samples_older_than_the_window_stop_counting()
    {
        var store = new ClientQuotaStore(null);
        var manager = new ClientQuotaManager(store, _time);
        store.Apply([(QuotaEntity.ForClient("c"), QuotaType.Fetch, 1000)]);
        Assert.True(manager.RecordAndGetThrottleMs(QuotaType.Fetch, "User:ANONYMOUS", "c", 50_000) > 0);
        _time.Advance(TimeSpan.FromSeconds(12));
        Assert.Equal(0, manager.RecordAndGetThrottleMs(QuotaType.Fetch, "User:ANONYMOUS", "c", 100));
    }

    [Fact]
    public void Store_is_durable_and_rejects_a_corrupt_file()
    {
        string dir = Path.Combine(Path.GetTempPath(), "quota-" + Guid.NewGuid().ToString("N"));
        try
        {
            var store = new ClientQuotaStore(dir);
            store.Apply([(QuotaEntity.ForUserClient(null, "c"), QuotaType.Produce, 1_048_576), (QuotaEntity.ForUser("u"), QuotaType.Fetch, 2000)]);
            var reopened = new ClientQuotaStore(dir);
            Assert.Equal(2, reopened.Snapshot.Count);
            Assert.Equal(1_048_576, reopened.Snapshot[QuotaEntity.ForUserClient(null, "c")][(int)QuotaType.Produce]);
            Assert.Equal(2000, reopened.Snapshot[QuotaEntity.ForUser("u")][(int)QuotaType.Fetch]);

            File.WriteAllText(Path.Combine(dir, ClientQuotaStore.FileName), "{\"version\":1,\"entities\":[{\"quotas\":{\"producer_byte_rate\":-1}}]}");
            Assert.Throws<InvalidDataException>(() => new ClientQuotaStore(dir));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
