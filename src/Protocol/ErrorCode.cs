namespace LogBroker.Protocol;

/// <summary>Kafka error codes this broker and client use (Kafka's Errors.java numbering).</summary>
public enum ErrorCode : short
{
    /// <summary>UNKNOWN_SERVER_ERROR</summary>
    UnknownServerError = -1,

    /// <summary>NONE</summary>
    None = 0,

    /// <summary>OFFSET_OUT_OF_RANGE</summary>
    OffsetOutOfRange = 1,

    /// <summary>CORRUPT_MESSAGE</summary>
    CorruptMessage = 2,

    /// <summary>UNKNOWN_TOPIC_OR_PARTITION</summary>
    UnknownTopicOrPartition = 3,

    /// <summary>INVALID_FETCH_SIZE</summary>
    InvalidFetchSize = 4,

    /// <summary>LEADER_NOT_AVAILABLE</summary>
    LeaderNotAvailable = 5,

    /// <summary>NOT_LEADER_OR_FOLLOWER</summary>
    NotLeaderOrFollower = 6,

    /// <summary>REQUEST_TIMED_OUT</summary>
    RequestTimedOut = 7,

    /// <summary>MESSAGE_TOO_LARGE</summary>
    MessageTooLarge = 10,

    /// <summary>OFFSET_METADATA_TOO_LARGE</summary>
    OffsetMetadataTooLarge = 12,

    /// <summary>NETWORK_EXCEPTION: the connection to the broker failed (a client-side condition).</summary>
    NetworkException = 13,

    /// <summary>COORDINATOR_LOAD_IN_PROGRESS</summary>
    CoordinatorLoadInProgress = 14,

    /// <summary>COORDINATOR_NOT_AVAILABLE</summary>
    CoordinatorNotAvailable = 15,

    /// <summary>NOT_COORDINATOR</summary>
    NotCoordinator = 16,

    /// <summary>INVALID_TOPIC_EXCEPTION</summary>
    InvalidTopicException = 17,

    /// <summary>RECORD_LIST_TOO_LARGE</summary>
    RecordListTooLarge = 18,

    /// <summary>NOT_ENOUGH_REPLICAS</summary>
    NotEnoughReplicas = 19,

    /// <summary>INVALID_REQUIRED_ACKS</summary>
    InvalidRequiredAcks = 21,

    /// <summary>ILLEGAL_GENERATION</summary>
    IllegalGeneration = 22,

    /// <summary>INCONSISTENT_GROUP_PROTOCOL</summary>
    InconsistentGroupProtocol = 23,

    /// <summary>INVALID_GROUP_ID</summary>
    InvalidGroupId = 24,

    /// <summary>UNKNOWN_MEMBER_ID</summary>
    UnknownMemberId = 25,

    /// <summary>INVALID_SESSION_TIMEOUT</summary>
    InvalidSessionTimeout = 26,

    /// <summary>REBALANCE_IN_PROGRESS</summary>
    RebalanceInProgress = 27,

    /// <summary>INVALID_COMMIT_OFFSET_SIZE</summary>
    InvalidCommitOffsetSize = 28,

    /// <summary>TOPIC_AUTHORIZATION_FAILED</summary>
    TopicAuthorizationFailed = 29,

    /// <summary>GROUP_AUTHORIZATION_FAILED</summary>
    GroupAuthorizationFailed = 30,

    /// <summary>INVALID_TIMESTAMP</summary>
    InvalidTimestamp = 32,

    /// <summary>UNSUPPORTED_SASL_MECHANISM</summary>
    UnsupportedSaslMechanism = 33,

    /// <summary>ILLEGAL_SASL_STATE</summary>
    IllegalSaslState = 34,

    /// <summary>UNSUPPORTED_VERSION</summary>
    UnsupportedVersion = 35,

    /// <summary>TOPIC_ALREADY_EXISTS</summary>
    TopicAlreadyExists = 36,

    /// <summary>INVALID_PARTITIONS</summary>
    InvalidPartitions = 37,

    /// <summary>INVALID_REPLICATION_FACTOR</summary>
    InvalidReplicationFactor = 38,

    /// <summary>INVALID_REPLICA_ASSIGNMENT</summary>
    InvalidReplicaAssignment = 39,

    /// <summary>TRANSACTIONAL_ID_AUTHORIZATION_FAILED</summary>
    TransactionalIdAuthorizationFailed = 53,

    /// <summary>UNSUPPORTED_ENDPOINT_TYPE</summary>
    UnsupportedEndpointType = 115,

    /// <summary>GROUP_SUBSCRIBED_TO_TOPIC</summary>
    GroupSubscribedToTopic = 86,

    /// <summary>INVALID_CONFIG</summary>
    InvalidConfig = 40,

    /// <summary>NOT_CONTROLLER</summary>
    NotController = 41,

    /// <summary>INVALID_REQUEST</summary>
    InvalidRequest = 42,

    /// <summary>UNSUPPORTED_FOR_MESSAGE_FORMAT</summary>
    UnsupportedForMessageFormat = 43,

    /// <summary>POLICY_VIOLATION</summary>
    PolicyViolation = 44,

    /// <summary>OUT_OF_ORDER_SEQUENCE_NUMBER</summary>
    OutOfOrderSequenceNumber = 45,

    /// <summary>DUPLICATE_SEQUENCE_NUMBER</summary>
    DuplicateSequenceNumber = 46,

    /// <summary>INVALID_PRODUCER_EPOCH</summary>
    InvalidProducerEpoch = 47,

    /// <summary>KAFKA_STORAGE_ERROR</summary>
    KafkaStorageError = 56,

    /// <summary>SASL_AUTHENTICATION_FAILED</summary>
    SaslAuthenticationFailed = 58,

    /// <summary>UNKNOWN_PRODUCER_ID</summary>
    UnknownProducerId = 59,

    /// <summary>NON_EMPTY_GROUP</summary>
    NonEmptyGroup = 68,

    /// <summary>GROUP_ID_NOT_FOUND</summary>
    GroupIdNotFound = 69,

    /// <summary>FETCH_SESSION_ID_NOT_FOUND</summary>
    FetchSessionIdNotFound = 70,

    /// <summary>INVALID_FETCH_SESSION_EPOCH</summary>
    InvalidFetchSessionEpoch = 71,

    /// <summary>LISTENER_NOT_FOUND: the partition's leader has no listener of the name the client came in on (retriable).</summary>
    ListenerNotFound = 72,

    /// <summary>TOPIC_DELETION_DISABLED</summary>
    TopicDeletionDisabled = 73,

    /// <summary>FENCED_LEADER_EPOCH</summary>
    FencedLeaderEpoch = 74,

    /// <summary>UNKNOWN_LEADER_EPOCH</summary>
    UnknownLeaderEpoch = 75,

    /// <summary>UNSUPPORTED_COMPRESSION_TYPE</summary>
    UnsupportedCompressionType = 76,

    /// <summary>OFFSET_NOT_AVAILABLE</summary>
    OffsetNotAvailable = 78,

    /// <summary>MEMBER_ID_REQUIRED</summary>
    MemberIdRequired = 79,

    /// <summary>PREFERRED_LEADER_NOT_AVAILABLE: the preferred replica is not alive or not in the ISR (ElectLeaders).</summary>
    PreferredLeaderNotAvailable = 80,

    /// <summary>GROUP_MAX_SIZE_REACHED</summary>
    GroupMaxSizeReached = 81,

    /// <summary>FENCED_INSTANCE_ID</summary>
    FencedInstanceId = 82,

    /// <summary>ELIGIBLE_LEADERS_NOT_AVAILABLE: no live replica can lead (ElectLeaders, unclean).</summary>
    EligibleLeadersNotAvailable = 83,

    /// <summary>ELECTION_NOT_NEEDED: the partition already has the leader the election would choose.</summary>
    ElectionNotNeeded = 84,

    /// <summary>NO_REASSIGNMENT_IN_PROGRESS: a cancellation for a partition that is not being reassigned.</summary>
    NoReassignmentInProgress = 85,

    /// <summary>INVALID_RECORD</summary>
    InvalidRecord = 87,

    /// <summary>UNSTABLE_OFFSET_COMMIT</summary>
    UnstableOffsetCommit = 88,

    /// <summary>THROTTLING_QUOTA_EXCEEDED</summary>
    ThrottlingQuotaExceeded = 89,

    /// <summary>UNKNOWN_TOPIC_ID</summary>
    UnknownTopicId = 100,

    /// <summary>FENCED_MEMBER_EPOCH</summary>
    FencedMemberEpoch = 110,

    /// <summary>UNRELEASED_INSTANCE_ID</summary>
    UnreleasedInstanceId = 111,

    /// <summary>UNSUPPORTED_ASSIGNOR</summary>
    UnsupportedAssignor = 112,

    /// <summary>STALE_MEMBER_EPOCH</summary>
    StaleMemberEpoch = 113,

    /// <summary>INVALID_REGULAR_EXPRESSION: a KIP-848 subscribed topic regex that does not compile (not retriable).</summary>
    InvalidRegularExpression = 130,

    /// <summary>CLUSTER_AUTHORIZATION_FAILED</summary>
    ClusterAuthorizationFailed = 31,

    /// <summary>RESOURCE_NOT_FOUND: a SCRAM credential to describe or delete does not exist (KIP-554).</summary>
    ResourceNotFound = 91,

    /// <summary>DUPLICATE_RESOURCE: the same user twice in one SCRAM credentials request (KIP-554).</summary>
    DuplicateResource = 92,

    /// <summary>UNACCEPTABLE_CREDENTIAL: an empty user name, too few or too many iterations (KIP-554).</summary>
    UnacceptableCredential = 93,
}

/// <summary>Facts about error codes that retry logic needs.</summary>
public static class ErrorCodes
{
    /// <summary>True when Kafka marks the error retriable: the same request may succeed later.</summary>
    public static bool IsRetriable(this ErrorCode code) => code is
        ErrorCode.CorruptMessage or
        ErrorCode.UnknownTopicOrPartition or
        ErrorCode.LeaderNotAvailable or
        ErrorCode.NotLeaderOrFollower or
        ErrorCode.RequestTimedOut or
        ErrorCode.NetworkException or
        ErrorCode.CoordinatorLoadInProgress or
        ErrorCode.CoordinatorNotAvailable or
        ErrorCode.NotCoordinator or
        ErrorCode.NotEnoughReplicas or
        ErrorCode.RebalanceInProgress or
        ErrorCode.NotController or
        ErrorCode.KafkaStorageError or
        ErrorCode.FencedLeaderEpoch or
        ErrorCode.UnknownLeaderEpoch or
        ErrorCode.ListenerNotFound or
        ErrorCode.OffsetNotAvailable or
        ErrorCode.UnstableOffsetCommit or
        ErrorCode.ThrottlingQuotaExceeded or
        ErrorCode.UnknownTopicId;
}
