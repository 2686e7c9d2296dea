using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.RegularExpressions;

namespace LogBroker.Broker.Security;

/// <summary>
/// Kafka's <c>ssl.principal.mapping.rules</c>: a client certificate's subject, written as RFC 2253
/// (<c>CN=alice,OU=eng,O=corp</c>), is matched against each <c>RULE:pattern/replacement/[L|U]</c> in turn
/// (the pattern must match the whole subject; <c>$1</c> in the replacement is a group); <c>DEFAULT</c>
/// takes the subject as it is. No matching rule: the connection is refused.
/// </summary>
internal sealed class PrincipalMapper
{
    private readonly List<Rule> _rules;

    private PrincipalMapper(List<Rule> rules) => _rules = rules;

    public static PrincipalMapper Parse(string rules) => TryParse(rules, out PrincipalMapper? mapper, out string? error) ? mapper! : throw new FormatException(error);

    /// <summary>Null when <paramref name="rules"/> parse, else what is wrong.</summary>
    public static string? Validate(string rules) => TryParse(rules, out _, out string? error) ? null : error;

    /// <summary>The principal name for <paramref name="subject"/>, or null when no rule matches.</summary>
    public string? Map(string subject)
    {
        foreach (Rule rule in _rules)
        {
            if (rule.Pattern is null)
            {
                return subject;
            }

            try
            {
                Match match = rule.Pattern.Match(subject);
                if (match.Success)
                {
                    string name = match.Result(rule.Replacement);
                    return rule.Case switch
                    {
                        'L' => name.ToLowerInvariant(),
                        'U' => name.ToUpperInvariant(),
                        _ => name,
                    };
                }
            }
            catch (RegexMatchTimeoutException)
            {
                return null;
            }
        }

        return null;
    }

    /// <summary>The RFC 2253 form of a certificate subject (most specific first, no spaces), as Java's X500Principal.getName() writes it.</summary>
    public static string Rfc2253(X500DistinguishedName name)
    {
        var rdns = new List<string>();
        foreach (X500RelativeDistinguishedName rdn in name.EnumerateRelativeDistinguishedNames(reversed: true)) // most specific first, as RFC 2253
        {
            if (rdn.HasMultipleElements)
            {
                rdns.Add("#" + Convert.ToHexString(rdn.RawData.Span)); // multi-valued RDNs are rare: shown as their encoding
                continue;
            }

            string type = rdn.GetSingleElementType().Value switch
            {
                "2.5.4.3" => "CN",
                "2.5.4.11" => "OU",
                "2.5.4.10" => "O",
                "2.5.4.7" => "L",
                "2.5.4.8" => "ST",
                "2.5.4.6" => "C",
                "2.5.4.9" => "STREET",
                "0.9.2342.19200300.100.1.25" => "DC",
                "0.9.2342.19200300.100.1.1" => "UID",
                var oid => oid ?? "",
            };
            rdns.Add($"{type}={Escape(rdn.GetSingleElementValue() ?? "")}");
        }

        return string.Join(',', rdns);
    }

    private static string Escape(string value)
    {
        var builder = new StringBuilder(value.Length);
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            if (c is ',' or '+' or '"' or '\\' or '<' or '>' or ';' || (i == 0 && c is '#' or ' ') || (i == value.Length - 1 && c == ' '))
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.ToString();
    }

    private static bool TryParse(string text, out PrincipalMapper? mapper, out string? error)
    {
        var rules = new List<Rule>();
        mapper = null;
        error = null;
        int i = 0;
        while (true)
        {
            while (i < text.Length && (text[i] == ',' || char.IsWhiteSpace(text[i])))
            {
                i++;
            }

            if (i >= text.Length)
            {
                break;
            }

            if (string.CompareOrdinal(text, i, "DEFAULT", 0, 7) == 0)
            {
                rules.Add(new Rule(null, "", ' '));
                i += 7;
                continue;
            }

            if (string.CompareOrdinal(text, i, "RULE:", 0, 5) != 0)
            {
                error = $"expected DEFAULT or RULE: at position {i}.";
                return false;
            }

            i += 5;
            string? pattern = ReadPart(text, ref i);
            string? replacement = pattern is null ? null : ReadPart(text, ref i);
            if (pattern is null || replacement is null)
            {
                error = "a RULE needs pattern/replacement/.";
                return false;
            }

            char mode = ' ';
            if (i < text.Length && text[i] is 'L' or 'U')
            {
                mode = text[i++];
            }

            try
            {
                rules.Add(new Rule(new Regex("^(?:" + pattern + ")$", RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100)), replacement, mode));
            }
            catch (ArgumentException e)
            {
                error = $"bad pattern '{pattern}': {e.Message}";
                return false;
            }
        }

        if (rules.Count == 0)
        {
            error = "no rules (use DEFAULT).";
            return false;
        }

        mapper = new PrincipalMapper(rules);
        return true;
    }

    private static string? ReadPart(string text, ref int i)
    {
        var builder = new StringBuilder();
        while (i < text.Length)
        {
            char c = text[i++];
            if (c == '\\' && i < text.Length && text[i] == '/')
            {
                builder.Append('/');
                i++;
                continue;
            }

            if (c == '/')
            {
                return builder.ToString();
            }

            builder.Append(c);
        }

        return null;
    }

    private sealed record Rule(Regex? Pattern, string Replacement, char Case);
}
