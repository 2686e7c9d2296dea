using System.Globalization;

/// <summary>How the scenarios summarise a figure measured once per round: its median, and the median with the range.</summary>
internal static class RoundStats
{
    public static double Median(IEnumerable<double> values)
    {
        double[] sorted = [.. values];
        Array.Sort(sorted);
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>"median (min–max)" with four significant digits, or "—" when no round measured it.</summary>
    public static string Cell(IReadOnlyCollection<double> values) =>
        values.Count == 0 ? "—" : string.Create(CultureInfo.InvariantCulture, $"{Median(values):G4} ({values.Min():G4}–{values.Max():G4})");
}
