package train

// TeacherStatsOrdered exposes the teacher statistics with given pass orders to the external
// tests, which replay the permutations the golden script drew.
var TeacherStatsOrdered = teacherStats

// TeacherStatsStream is the PCG stream TeacherStats documents.
const TeacherStatsStream = teacherStatsStream
